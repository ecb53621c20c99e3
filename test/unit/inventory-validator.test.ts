// The committed inventory validator (config/generated/inventory-validator.js) is what the schema compiles to today.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { GENERATED_VALIDATOR, generateInventoryValidator } from '../../config/gen-inventory-validator.ts'

test('the generated inventory validator matches config/inventory-schema.ts (else: npm run gen:inventory-validator)', () => {
  assert.ok(
    readFileSync(GENERATED_VALIDATOR, 'utf8') === generateInventoryValidator(),
    'config/generated/inventory-validator.js is stale: run npm run gen:inventory-validator and commit it',
  )
})
