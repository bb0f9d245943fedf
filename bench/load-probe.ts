/**
 * Preloaded into the service process by `bench/load.ts` (`node --import
 * dist/bench/load-probe.js dist/src/main.js`, with an IPC channel): the harness's window into the
 * service without any code in the service itself. Over IPC it answers:
 * - `lag`: event-loop delay (perf_hooks.monitorEventLoopDelay, 10 ms resolution) since `lag-reset`,
 *   p50/p99/max in ms;
 * - `gc`: two full collections, then process.memoryUsage() (for per-session memory);
 * - `profile-start` / `profile-stop`: a CPU profile through the inspector, written to `path`;
 * - `heap-snapshot`: v8.writeHeapSnapshot(`path`).
 * Nothing runs unless asked, apart from the lag histogram's timer.
 */
import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setFlagsFromString, writeHeapSnapshot } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { isMainThread } from 'node:worker_threads';

type ProbeCommand = { id: number; cmd: 'lag' | 'lag-reset' | 'gc' | 'profile-start' } | { id: number; cmd: 'profile-stop' | 'heap-snapshot'; path: string };

const lag = monitorEventLoopDelay({ resolution: 10 });
let inspector: Session | undefined;
// `--expose-gc` on the command line would be passed on to the service's worker threads, which refuse it.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function handle(command: ProbeCommand): Promise<unknown> {
  switch (command.cmd) {
    case 'lag-reset':
      lag.reset();
      return {};
    case 'lag':
      return { p50: lag.percentile(50) / 1e6, p99: lag.percentile(99) / 1e6, max: lag.max / 1e6, mean: lag.mean / 1e6 };
    case 'gc':
      gc();
      gc();
      return process.memoryUsage();
    case 'profile-start':
      inspector = new Session();
      inspector.connect();
      await inspector.post('Profiler.enable');
      await inspector.post('Profiler.setSamplingInterval', { interval: 500 });
      await inspector.post('Profiler.start');
      return {};
    case 'profile-stop': {
      if (!inspector) return {};
      const { profile } = await inspector.post('Profiler.stop');
      writeFileSync(command.path, JSON.stringify(profile));
      inspector.disconnect();
      inspector = undefined;
      return { path: command.path };
    }
    case 'heap-snapshot':
      return { path: writeHeapSnapshot(command.path) };
  }
}

// Worker threads inherit `--import`; the probe is for the main thread only.
if (isMainThread && process.send) {
  lag.enable();
  process.on('message', (command: ProbeCommand) => {
    void handle(command).then(
      (result) => process.send?.({ id: command.id, result }),
      (error: unknown) => process.send?.({ id: command.id, error: String(error) }),
    );
  });
  // The IPC channel must not keep the service alive after SIGTERM.
  process.channel?.unref();
}
