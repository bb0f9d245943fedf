import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LEAD_SECONDS, PlaybackSchedule } from './scheduler.js';

const near = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: ${actual} != ${expected}`);

describe('player scheduling', () => {
  it('starts the first chunk after the lead and the next ones back to back (gapless)', () => {
    const schedule = new PlaybackSchedule();
    const first = schedule.schedule(1, 0.16, 10, true);
    near(first, 10 + LEAD_SECONDS, 'first start');
    // Chunks arriving while the first plays follow it exactly, whenever they arrive.
    near(schedule.schedule(1, 0.16, 10.02, false), first + 0.16, 'second start');
    near(schedule.schedule(1, 0.08, 10.2, false), first + 0.32, 'third start');
    near(schedule.queued(10.2), first + 0.4 - 10.2, 'queued');
    assert.equal(schedule.underruns, 0);
  });

  it('counts an underrun when a reply runs dry and restarts after the lead', () => {
    const schedule = new PlaybackSchedule();
    schedule.schedule(1, 0.1, 0, true);
    const late = schedule.schedule(1, 0.1, 1, false);
    near(late, 1 + LEAD_SECONDS, 'restart');
    assert.equal(schedule.underruns, 1);
    // The first chunk of a new turn after silence is not an underrun.
    schedule.schedule(2, 0.1, 5, true);
    assert.equal(schedule.underruns, 1);
  });

  it('reports played ms of a turn as the clock runs, across chunks', () => {
    const schedule = new PlaybackSchedule();
    const start = schedule.schedule(1, 0.2, 0, true);
    schedule.schedule(1, 0.2, 0, false);
    assert.equal(schedule.playedMs(1, start - 0.01), 0);
    assert.equal(schedule.playedMs(1, start + 0.1), 100);
    assert.equal(schedule.playedMs(1, start + 0.3), 300);
    assert.equal(schedule.pending(1, start + 0.3), true);
    assert.equal(schedule.playedMs(1, start + 1), 400);
    assert.equal(schedule.pending(1, start + 1), false);
  });

  it('drops an interrupted turn: what played is kept, the queue empties, the next turn starts at once', () => {
    const schedule = new PlaybackSchedule();
    const start = schedule.schedule(1, 0.5, 0, true);
    schedule.schedule(1, 0.5, 0, false);
    const dropped = schedule.drop(start + 0.25, 1);
    assert.deepEqual([...dropped], [[1, 250]]);
    assert.equal(schedule.pending(1, start + 0.25), false);
    assert.equal(schedule.playedMs(1, start + 2), 250, 'nothing more plays after the drop');
    near(schedule.schedule(2, 0.1, start + 0.3, true), start + 0.3 + LEAD_SECONDS, 'next turn starts after the lead, not after the dropped audio');
  });

  it('dropping one turn keeps the others queued', () => {
    const schedule = new PlaybackSchedule();
    schedule.schedule(1, 0.5, 0, true);
    const second = schedule.schedule(2, 0.5, 0, true);
    schedule.drop(0.1, 1);
    assert.deepEqual(schedule.turns(), [2]);
    near(schedule.queued(0.1), second + 0.5 - 0.1, 'turn 2 still queued');
    const all = schedule.drop(0.2);
    assert.deepEqual([...all.keys()], [2]);
    assert.equal(schedule.queued(0.2), 0);
  });
});
