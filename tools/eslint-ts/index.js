// typescript-eslint, made to load this package's TypeScript 5. The repo's own `typescript` is 7 (native, no JS API);
// npm hoists some typescript-eslint helpers (ts-api-utils) next to it, so every require('typescript') in the ESLint
// process is pointed here. Nothing else in that process loads TypeScript.
import Module, { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const typescript5 = require.resolve('typescript')
const resolveFilename = Module._resolveFilename
Module._resolveFilename = function (request, ...rest) {
  return request === 'typescript' ? typescript5 : resolveFilename.call(this, request, ...rest)
}

export default require('typescript-eslint')
