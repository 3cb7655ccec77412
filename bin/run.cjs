// What bin/fcgid and bin/fcgictl do: run the bundled CLI with V8's code cache
// from its last run (src/cli/launch.cts), or say how to build it when
// dist/ is missing (npm install builds it through "prepare"). CommonJS, as
// bin/package.json says: no ES module loader starts on the way.
module.exports = function run(name) {
  let launcher;
  try {
    launcher = require('../dist/cli/launch.cjs');
  } catch (err) {
    if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes('launch.cjs')) {
      process.stderr.write(`${name}: the build is missing; run \`npm install\` (or \`npm run build\`) in the fcgid checkout\n`);
      process.exit(1);
    }
    throw err;
  }
  launcher.run(name, process.argv);
};
