import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SynthesisPacer } from './synthesis-pacer.js';

describe('SynthesisPacer', () => {
  it('lets a burst through at once, then holds synthesis until real time catches up at `speed`', async () => {
    const pacer = new SynthesisPacer({ burstSeconds: 1, speed: 10 });
    const signal = new AbortController().signal;
    let started = performance.now();
    await pacer.ready(signal);
    assert.ok(performance.now() - started < 50, 'a fresh bucket does not wait');
    pacer.spend(3); // 1 s of burst + 2 s of debt: 200 ms at 10x real time
    started = performance.now();
    await pacer.ready(signal);
    const waited = performance.now() - started;
    assert.ok(waited >= 190 && waited < 2000, `waited ${waited.toFixed(0)} ms`);
    assert.ok(pacer.available >= 0 && pacer.available < 1);
  });

  it('refills no deeper than the burst', async () => {
    const pacer = new SynthesisPacer({ burstSeconds: 0.5, speed: 100 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(pacer.available, 0.5);
  });

  it('stops waiting with the abort reason when the turn is cancelled', async () => {
    const pacer = new SynthesisPacer({ burstSeconds: 1, speed: 1 });
    pacer.spend(60); // a minute of debt
    const controller = new AbortController();
    const reason = new Error('turn cancelled');
    const waiting = pacer.ready(controller.signal);
    setTimeout(() => controller.abort(reason), 20);
    const started = performance.now();
    await assert.rejects(waiting, (error) => error === reason);
    assert.ok(performance.now() - started < 1000);
  });
});
