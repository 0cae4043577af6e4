// What every page needs: the API, the signed-in user and the settings.

import { createContext, useContext } from 'react';
import type { ApiClient } from '../api/client';
import type { User } from '../api/types';
import type { AppConfig } from '../config';

export interface AppContextValue {
  api: ApiClient;
  user: User;
  config: AppConfig;
  signOut: () => void;
}

export const AppContext = createContext<AppContextValue | null>(null);

export function useApp(): AppContextValue {
  const value = useContext(AppContext);
  if (!value) throw new Error('useApp outside AppContext');
  return value;
}
