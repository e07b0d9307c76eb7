import type { Keys } from '@flashline/core';

/** `count` product ids `<tag><n>` whose keys share one group (one hash tag): one commit may carry them all. */
export function productsOfOneGroup(keys: Keys, count: number, tag = 'g'): string[] {
  const group = keys.group(`${tag}0`);
  const ids: string[] = [];
  for (let i = 0; ids.length < count; i++) if (keys.group(`${tag}${i}`) === group) ids.push(`${tag}${i}`);
  return ids;
}
