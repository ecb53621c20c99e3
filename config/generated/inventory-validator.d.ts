// Types of the generated validator (config/gen-inventory-validator.ts): an ajv ValidateFunction.
import type { ErrorObject } from 'ajv'

declare const validate: ((data: unknown) => boolean) & { errors?: ErrorObject[] | null }
export default validate
export { validate }
