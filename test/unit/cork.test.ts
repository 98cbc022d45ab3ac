import { Writable } from 'node:stream';
import { corkForThisTick, holdForThisTurn } from '../../src/cork';

/** A writable that records each write the way a socket would see it: one entry per syscall. */
function recordingStream(): { stream: Writable; writes: string[][] } {
  const writes: string[][] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      writes.push([chunk.toString()]);
      done();
    },
    writev(chunks, done) {
      writes.push(chunks.map((c) => (c.chunk as Buffer).toString()));
      done();
    },
  });
  return { stream, writes };
}

const turnOver = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('holdForThisTurn', () => {
  it('sends what one socket gets during a turn in one write, after the turn, in order', async () => {
    const a = recordingStream();
    const b = recordingStream();
    holdForThisTurn(a.stream);
    a.stream.write('a1');
    holdForThisTurn(b.stream);
    b.stream.write('b1');
    holdForThisTurn(a.stream);
    a.stream.write('a2');
    expect(a.writes).toEqual([]);
    expect(b.writes).toEqual([]);
    await turnOver();
    expect(a.writes).toEqual([['a1', 'a2']]);
    expect(b.writes).toEqual([['b1']]);
    expect(a.stream.writableCorked).toBe(0);
  });

  it('holds writes past the end of the tick, until the turn is over', async () => {
    const a = recordingStream();
    holdForThisTurn(a.stream);
    a.stream.write('m0');
    // The tick ends here (its nextTick queue runs); the loop's turn does not.
    await new Promise((resolve) => process.nextTick(resolve));
    holdForThisTurn(a.stream);
    a.stream.write('m1');
    expect(a.writes).toEqual([]);
    await turnOver();
    expect(a.writes).toEqual([['m0', 'm1']]);
  });

  it('leaves a socket corked for this tick to that uncork, and keeps the order of both', async () => {
    const a = recordingStream();
    corkForThisTick(a.stream);
    a.stream.write('reply');
    holdForThisTurn(a.stream);
    a.stream.write('frame');
    await new Promise((resolve) => process.nextTick(resolve));
    expect(a.writes).toEqual([['reply', 'frame']]);
    holdForThisTurn(a.stream);
    a.stream.write('later');
    expect(a.writes).toHaveLength(1);
    await turnOver();
    expect(a.writes).toEqual([['reply', 'frame'], ['later']]);
  });

  it('lets end() flush what is held', async () => {
    const a = recordingStream();
    holdForThisTurn(a.stream);
    a.stream.write('last');
    a.stream.end();
    await new Promise((resolve) => a.stream.once('finish', resolve));
    expect(a.writes.flat()).toEqual(['last']);
    await turnOver();
  });
});
