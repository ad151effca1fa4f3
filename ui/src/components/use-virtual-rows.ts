// Preact binding for @tanstack/virtual-core: only the rows in view (plus a few) are in the DOM.

import { elementScroll, observeElementOffset, observeElementRect, Virtualizer } from '@tanstack/virtual-core';
import { useLayoutEffect, useReducer, useState } from 'preact/hooks';

export function useVirtualRows(count: number, rowHeight: number, getScrollElement: () => HTMLElement | null): Virtualizer<HTMLElement, HTMLElement> {
  const [, rerender] = useReducer((x: number) => x + 1, 0);
  const options = {
    count,
    getScrollElement,
    estimateSize: () => rowHeight,
    overscan: 12,
    observeElementRect,
    observeElementOffset,
    scrollToFn: elementScroll,
    onChange: () => rerender(0),
  };
  const [instance] = useState(() => new Virtualizer<HTMLElement, HTMLElement>(options));
  instance.setOptions(options);
  useLayoutEffect(() => instance._didMount(), []);
  useLayoutEffect(() => instance._willUpdate());
  return instance;
}
