// A Node.js (V8) workload for tests/integration/runtimes.sh: typed arrays,
// objects and strings over more memory than the ExCache, with a checksum.
const n = +(process.argv[2] || 256); // MiB of typed arrays
const arrays = [];
for (let i = 0; i < n; i++) {
	const a = new Float64Array(131072);
	for (let j = 0; j < a.length; j += 64) a[j] = i * 1000 + j;
	arrays.push(a);
}
const objs = [];
for (let i = 0; i < 200000; i++) objs.push({ k: 'key' + i, v: i * 7 });
let sum = 0;
for (let r = 0; r < 3; r++)
	for (let i = 0; i < n; i++) {
		const a = arrays[(i * 7919) % n];
		for (let j = 0; j < a.length; j += 64) sum += a[j];
	}
let s2 = 0;
for (const o of objs) s2 += o.v + o.k.length;
arrays.length = n / 2; // garbage for the collector
console.log('sum', sum, 'objs', s2, 'left', arrays.length);
