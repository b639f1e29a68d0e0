// Invocation overhead of the local Lambda runtime: the median of 200 warm invocations through
// invoke() and through the API Gateway stand-in, with and without freezing between them.
// Run after `pnpm build`:  node bench/lambda-overhead.mjs
import { fileURLToPath } from 'node:url';
import { startGateway, startLambda } from '../dist/index.js';

const N = Number(process.env.N ?? 200);
const WARM = fileURLToPath(new URL('../test/fixtures/lambda/warm.mjs', import.meta.url));
const HTTP = fileURLToPath(new URL('../test/fixtures/lambda/http.mjs', import.meta.url));

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p95 = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.95)];

async function timeIt(fn) {
  for (let i = 0; i < 20; i++) await fn(i); // warm-up (JIT, connections)
  const samples = [];
  for (let i = 0; i < N; i++) {
    const t = performance.now();
    await fn(i);
    samples.push(performance.now() - t);
  }
  return samples;
}

const rows = [];
for (const freeze of [true, false]) {
  const lambda = await startLambda({ handler: WARM, freeze });
  const direct = await timeIt((i) => lambda.invoke({ i }));
  await lambda.close();

  const gwLambda = await startLambda({ handler: HTTP, freeze });
  const gateway = await startGateway({ lambda: gwLambda });
  const viaGateway = await timeIt(async () => {
    const r = await fetch(`${gateway.url}/plain`);
    await r.arrayBuffer();
  });
  await gateway.close();
  await gwLambda.close();
  rows.push({ freeze, direct, viaGateway });
}

console.log(`${N} warm invocations each (after 20 warm-up), one container, ${process.version}`);
console.log('freeze  path      median ms  p95 ms');
for (const { freeze, direct, viaGateway } of rows) {
  for (const [path, xs] of [
    ['invoke()', direct],
    ['gateway', viaGateway],
  ]) {
    console.log(
      `${String(freeze).padEnd(7)} ${path.padEnd(9)} ${median(xs).toFixed(3).padStart(9)}  ${p95(xs).toFixed(3).padStart(6)}`,
    );
  }
}
