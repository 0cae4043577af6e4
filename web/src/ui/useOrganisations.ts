// Organisation names by id (GET /v1/auth/organisations), loaded once per sign-in.

import { useEffect, useState } from 'react';
import type { ApiClient } from '../api/client';
import type { Organisation } from '../api/types';
import { useApp } from './AppContext';

const cache = new WeakMap<ApiClient, Promise<Organisation[]>>();

export interface Organisations {
  list: Organisation[];
  name: (id: string | undefined | null) => string;
}

export function useOrganisations(): Organisations {
  const { api } = useApp();
  const [list, setList] = useState<Organisation[]>([]);
  useEffect(() => {
    let promise = cache.get(api);
    if (!promise) {
      promise = api.organisations().catch(() => []);
      cache.set(api, promise);
    }
    let live = true;
    promise.then((orgs) => live && setList(orgs));
    return () => {
      live = false;
    };
  }, [api]);
  const byId = new Map(list.map((o) => [o.id, o.name]));
  return { list, name: (id) => (id ? (byId.get(id) ?? shortId(id)) : '–') };
}

export function shortId(id: string): string {
  return id.length > 14 ? `${id.slice(0, 12)}…` : id;
}
