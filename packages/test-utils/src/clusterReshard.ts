import { askNode, type NodeAddress } from './clusterNodes.ts';

export interface ClusterMember extends NodeAddress {
  id: string;
}

/** Keys per MIGRATE: each call blocks the source while it runs, so clients wait for one batch at most. */
const KEYS_PER_MIGRATE = 100;
const MIGRATE_TIMEOUT_MS = 5000;

/**
 * Moves one slot from the master that serves it to another while clients keep using it, in the order
 * redis-cli's reshard uses. Once the source is MIGRATING, it still answers for the keys it holds and
 * sends ASK to the target for any other (a new key is made there); the target, IMPORTING, accepts a
 * command only after ASKING. MIGRATE moves a batch atomically (copied, then deleted from the source), so
 * a key lives on one node at any moment and no write is lost. Returns how many keys were moved.
 */
export async function moveSlot(
  slot: number,
  source: ClusterMember,
  target: ClusterMember,
  masters: ClusterMember[],
): Promise<number> {
  const setSlot = (node: NodeAddress, ...state: string[]) =>
    askNode(node, ['CLUSTER', 'SETSLOT', String(slot), ...state]);
  await setSlot(target, 'IMPORTING', source.id);
  await setSlot(source, 'MIGRATING', target.id);
  let moved = 0;
  for (;;) {
    const keys = (await askNode(source, [
      'CLUSTER',
      'GETKEYSINSLOT',
      String(slot),
      String(KEYS_PER_MIGRATE),
    ])) as string[];
    if (keys.length === 0) break;
    const migrate = ['MIGRATE', target.host, String(target.port), '', '0', String(MIGRATE_TIMEOUT_MS), 'KEYS', ...keys];
    await askNode(source, migrate, MIGRATE_TIMEOUT_MS + 1000);
    moved += keys.length;
  }
  // The target first: it then owns the slot (and bumps its config epoch so gossip spreads that), while
  // the source still sends ASK there. The source first would answer MOVED to a target that, still only
  // IMPORTING, sends clients back to the source.
  await setSlot(target, 'NODE', target.id);
  await setSlot(source, 'NODE', target.id);
  const others = masters.filter((master) => master.id !== source.id && master.id !== target.id);
  await Promise.all(others.map((master) => setSlot(master, 'NODE', target.id)));
  return moved;
}
