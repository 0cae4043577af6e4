// The temperature bands of the standard profiles (shared/domain's TemperatureProfile),
// for shipments the dashboard knows only from a shipment event.

import type { Band, ProfileInput } from '../api/types';

/** Range and outer zones of each standard profile: [min, max, hot zone above, cold zone below]. */
const BANDS: Record<string, [number, number, number | undefined, number | undefined]> = {
  REFRIGERATED: [2, 8, 25, 0],
  CONTROLLED_ROOM: [15, 25, 30, 0],
  FROZEN: [-25, -15, -10, undefined],
  ULTRA_COLD: [-90, -60, -50, undefined],
};

export function bandOf(profile: ProfileInput | Band | undefined | null): Band {
  const kind = profile?.kind ?? 'REFRIGERATED';
  const standard = BANDS[kind];
  const [min, max] = standard ?? [profile?.min_c ?? 2, profile?.max_c ?? 8];
  const band: Band = {
    kind,
    min_c: typeof profile?.min_c === 'number' ? profile.min_c : min,
    max_c: typeof profile?.max_c === 'number' ? profile.max_c : max,
  };
  const zones = profile as (ProfileInput & Partial<Band>) | undefined | null;
  const hot = zones?.hot_zone_c ?? zones?.hot_zone?.above_c ?? standard?.[2];
  const cold = zones?.cold_zone_c ?? zones?.cold_zone?.below_c ?? standard?.[3];
  if (typeof hot === 'number') band.hot_zone_c = hot;
  if (typeof cold === 'number') band.cold_zone_c = cold;
  return band;
}

export const PROFILE_KINDS = ['REFRIGERATED', 'CONTROLLED_ROOM', 'FROZEN', 'ULTRA_COLD', 'CUSTOM'];
