/** What the group API handlers use of the broker: the coordinator (null until the broker has started) and metadata. */
import type { MetadataCache } from '../../cluster/metadata-cache.js';
import type { GroupCoordinator } from '../../group/group-coordinator.js';

export interface GroupServices {
  readonly groupCoordinator: GroupCoordinator | null;
  readonly metadata: MetadataCache;
}
