/** Import rules, checked by `npm run lint:imports`: arrows point one way, from apps down to packages. */
module.exports = {
  forbidden: [
    {
      name: 'no-cycle',
      comment: 'Modules import one another in one direction only, type-only imports included.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'packages-not-into-apps',
      comment: 'packages/ is what the apps build on: it never imports from apps/.',
      severity: 'error',
      from: { path: '^packages/' },
      to: { path: '^apps/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(node_modules|dist)/' },
    // Type-only imports count: a cycle through a type is still a cycle of the design.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.base.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};
