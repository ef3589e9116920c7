/**
 * A k-way merge of sources that are each sorted by a numeric key, holding one item per source (a binary heap):
 * how sorted runs written to disk are read back as one sorted stream. Equal keys come out in source order, so a
 * source given first wins ties (stable).
 */
export async function* mergeSorted<T>(sources: AsyncIterable<T>[], key: (item: T) => number): AsyncGenerator<T> {
  interface Head {
    key: number;
    source: number;
    item: T;
    rest: AsyncIterator<T>;
  }
  const heap: Head[] = [];
  const before = (a: Head, b: Head) => a.key < b.key || (a.key === b.key && a.source < b.source);
  const push = (h: Head) => {
    heap.push(h);
    for (let i = heap.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  };
  const popTop = (): Head => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  };
  const iterators = sources.map((s) => s[Symbol.asyncIterator]());
  try {
    for (const [source, rest] of iterators.entries()) {
      const next = await rest.next();
      if (!next.done) push({ key: key(next.value), source, item: next.value, rest });
    }
    while (heap.length > 0) {
      const top = popTop();
      yield top.item;
      const next = await top.rest.next();
      if (next.done) continue;
      const k = key(next.value);
      if (k < top.key) throw new Error(`mergeSorted: source ${top.source} is not sorted (${k} after ${top.key})`);
      push({ key: k, source: top.source, item: next.value, rest: top.rest });
    }
  } finally {
    // Sources left unread (the consumer stopped early, or one failed) are closed: their files are let go.
    await Promise.allSettled(iterators.map((it) => it.return?.()));
  }
}
