// The temperature bands of the standard profiles (shared/domain's TemperatureProfile),
// for shipments the dashboard knows only from a shipment event.

import type { Band, ProfileInput } from '../api/types';

const BANDS: Record<string, [number, number]> = {
  REFRIGERATED: [2, 8],
  CONTROLLED_ROOM: [15, 25],
  FROZEN: [-25, -15],
  ULTRA_COLD: [-90, -60],
};

export function bandOf(profile: ProfileInput | Band | undefined | null): Band {
  const kind = profile?.kind ?? 'REFRIGERATED';
  const [min, max] = BANDS[kind] ?? [profile?.min_c ?? 2, profile?.max_c ?? 8];
  return {
    kind,
    min_c: typeof profile?.min_c === 'number' ? profile.min_c : min,
    max_c: typeof profile?.max_c === 'number' ? profile.max_c : max,
  };
}

export const PROFILE_KINDS = ['REFRIGERATED', 'CONTROLLED_ROOM', 'FROZEN', 'ULTRA_COLD', 'CUSTOM'];
