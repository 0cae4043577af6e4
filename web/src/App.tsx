// The application: reads config.json, then shows the login page or the dashboard.

import { useCallback, useEffect, useMemo, useState } from 'react';
import { ApiClient } from './api/client';
import { Session, sessionMarks, tabStorage } from './api/session';
import type { User } from './api/types';
import { loadConfig, type AppConfig } from './config';
import { LiveProvider } from './live/LiveProvider';
import { AppContext } from './ui/AppContext';
import { Layout } from './ui/Layout';
import { LoginPage } from './ui/LoginPage';

// Once per page load: whether this tab was signed in before a reload (a flag, never a token).
const marks = sessionMarks(tabStorage());
const reloadNotice = marks.takeNotice();

export function App() {
  const [config, setConfig] = useState<AppConfig | null>(null);
  const [configError, setConfigError] = useState<string | null>(null);

  useEffect(() => {
    loadConfig().then(setConfig, (e: unknown) => setConfigError(e instanceof Error ? e.message : String(e)));
  }, []);

  if (configError) {
    return (
      <div className="center-page">
        <div className="card error-card" role="alert">
          <h1>PharmaGuard</h1>
          <p>The dashboard could not read its settings ({configError}).</p>
        </div>
      </div>
    );
  }
  if (!config) return <div className="center-page muted">Loading…</div>;
  return <Signed config={config} />;
}

function Signed({ config }: { config: AppConfig }) {
  // the tokens stay in this page's memory: a reload starts signed out (web/README.md, "Tokens")
  const session = useMemo(() => new Session({ apiBaseUrl: config.apiBaseUrl }), [config]);
  const api = useMemo(() => new ApiClient(session), [session]);
  const [user, setUser] = useState<User | null>(session.user);
  const [notice, setNotice] = useState<string | null>(reloadNotice);

  useEffect(
    () =>
      session.subscribe((tokens, reason) => {
        setUser(tokens?.user ?? null);
        marks.signedIn(tokens !== null);
        if (!tokens && reason === 'expired') setNotice('Your session has ended; please sign in again.');
      }),
    [session],
  );

  // refresh the access token ahead of its expiry, so a quiet dashboard stays signed in
  useEffect(() => {
    if (!user) return;
    let timer = 0;
    const plan = () => {
      timer = window.setTimeout(
        () => {
          session.accessToken().then(plan, () => {
            if (session.signedIn) timer = window.setTimeout(plan, 15_000);
          });
        },
        Math.min(session.msUntilRefresh() + 1000, 2 ** 31 - 1),
      );
    };
    plan();
    return () => window.clearTimeout(timer);
  }, [session, user]);

  const onSessionExpired = useCallback(() => {
    setUser(null);
    setNotice('Your session has ended; please sign in again.');
  }, []);

  if (!user) {
    return (
      <LoginPage
        notice={notice}
        onLogin={async (email, password) => {
          await session.login(email, password);
          setNotice(null);
        }}
      />
    );
  }
  return (
    <AppContext.Provider value={{ api, user, config, signOut: () => void session.logout() }}>
      <LiveProvider key={user.id} api={api} wsUrl={config.wsUrl} onSessionExpired={onSessionExpired}>
        <Layout />
      </LiveProvider>
    </AppContext.Provider>
  );
}
