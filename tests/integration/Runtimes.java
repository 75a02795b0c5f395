// A JVM workload for tests/integration/runtimes.sh: arrays, a hash map,
// strings and threads over more memory than the ExCache, with a checksum.
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;

public class Runtimes {
	public static void main(String[] args) throws Exception {
		final int n = Integer.parseInt(args[0]); // MiB of arrays
		final List<long[]> arrays = new ArrayList<>();
		for (int i = 0; i < n; i++) {
			long[] a = new long[130000]; // just under 1 MiB: not humongous in G1
			for (int j = 0; j < a.length; j += 64)
				a[j] = (long) i * 1000003L + j;
			arrays.add(a);
		}
		HashMap<String, Integer> map = new HashMap<>();
		for (int i = 0; i < 200000; i++)
			map.put("key" + i, i * 7);
		long sum = 0;
		for (int round = 0; round < 3; round++)
			for (int i = 0; i < n; i++) {
				long[] a = arrays.get((int) ((i * 7919L) % n));
				for (int j = 0; j < a.length; j += 64)
					sum += a[j];
			}
		final long[] part = new long[4];
		Thread[] t = new Thread[4];
		for (int k = 0; k < 4; k++) {
			final int kk = k;
			t[k] = new Thread(() -> {
				long q = 0;
				for (int i = kk; i < n; i += 4) {
					long[] a = arrays.get(i);
					for (int j = 0; j < a.length; j += 32)
						q += a[j] ^ j;
				}
				part[kk] = q;
			});
			t[k].start();
		}
		for (Thread th : t)
			th.join();
		long m = 0;
		for (int i = 0; i < 200000; i += 3)
			m += map.get("key" + i);
		arrays.subList(0, n / 2).clear(); // garbage for the collector
		System.gc();
		System.out.println("sum " + sum + " threads " + (part[0] + part[1] + part[2] + part[3]) +
				   " map " + m + " left " + arrays.size());
	}
}
