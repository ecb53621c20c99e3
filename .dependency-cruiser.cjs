// Dependency rules, checked by `npm run lint:deps` (dependency-cruiser) in CI.
// 1. Product code (runbooks/, lib/, checks/, templates/, ...) reaches the lab only as it reaches a real cluster:
//    through talosctl, kubectl, ssh, a BMC and network endpoints. Only lab/, test/ and bench/ may import lab/.
// 2. No import cycles.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'product-imports-lab',
      comment: 'Product code must not know the lab: extend the lab so it serves the production path instead.',
      severity: 'error',
      from: { pathNot: '^(lab|test|bench)/' },
      to: { path: '^lab/' },
    },
    {
      name: 'no-circular',
      comment: 'Import cycles hide the layering: lower layers must not import higher ones.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|out|state|\\.lab|\\.git)/' },
    // TypeScript 7 (tsgo) has no JS compiler API for dependency-cruiser 17 to use: swc parses the .ts files
    parser: 'swc',
    tsPreCompilationDeps: true,
    combinedDependencies: false,
  },
}
