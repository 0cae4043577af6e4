import { useLive } from '../live/LiveProvider';
import { sortedAlarms } from '../live/reducer';
import { href, useRoute } from '../router';
import { AlarmsPage } from './AlarmsPage';
import { useApp } from './AppContext';
import { canCreateShipment } from './permissions';
import { LivePage } from './LivePage';
import { NewShipmentPage } from './NewShipmentPage';
import { NotificationsPage } from './NotificationsPage';
import { ShipmentDetailPage } from './ShipmentDetailPage';
import { ShipmentsPage } from './ShipmentsPage';
import { useOrganisations } from './useOrganisations';

const STATUS_TEXT = {
  open: 'Live',
  connecting: 'Connecting…',
  reconnecting: 'Reconnecting…',
  closed: 'Offline',
  off: 'Updates every 15 s',
};

export function Layout() {
  const { user, signOut } = useApp();
  const { state, status, connects } = useLive();
  const route = useRoute();
  const orgs = useOrganisations();
  const unacknowledged = sortedAlarms(state.alarms).filter((a) => a.state === 'ACTIVE_UNACK').length;

  const tab = (page: string, label: string, target: string, extra?: React.ReactNode) => (
    <a className={route.page === page ? 'tab active' : 'tab'} href={target}>
      {label}
      {extra}
    </a>
  );

  return (
    <div className="app">
      <header className="topbar">
        <a className="brand" href="#/">
          <span className="logo" aria-hidden="true">
            ❄
          </span>{' '}
          PharmaGuard
        </a>
        <nav aria-label="Main">
          {tab('live', 'Live map', href({ page: 'live' }))}
          {tab(
            'alarms',
            'Alarms',
            href({ page: 'alarms' }),
            unacknowledged > 0 ? (
              <span className="badge critical" data-testid="unack-count">
                {unacknowledged}
              </span>
            ) : null,
          )}
          {tab('shipments', 'Shipments', href({ page: 'shipments' }))}
          {canCreateShipment(user) && tab('new-shipment', 'New shipment', href({ page: 'new-shipment' }))}
          {tab('notifications', 'Notifications', href({ page: 'notifications' }))}
        </nav>
        <div className="spacer" />
        <span className={`live-status ${status}`} data-testid="live-status" data-status={status} data-connects={connects} title="Live updates">
          <span className="dot" aria-hidden="true" /> {STATUS_TEXT[status]}
        </span>
        <span className="who" data-testid="who">
          {user.name || user.email} · {roleName(user.role)} · {orgs.name(user.org_id)}
        </span>
        <button type="button" className="link" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main className="content">
        {route.page === 'live' && <LivePage />}
        {route.page === 'alarms' && <AlarmsPage />}
        {route.page === 'shipments' && <ShipmentsPage />}
        {route.page === 'new-shipment' && <NewShipmentPage />}
        {route.page === 'shipment' && <ShipmentDetailPage key={route.id} id={route.id} />}
        {route.page === 'notifications' && <NotificationsPage />}
        {route.page === 'not-found' && (
          <div className="card">
            <h2>Not found</h2>
            <p>
              There is no page {route.path}. <a href="#/">Back to the live map</a>.
            </p>
          </div>
        )}
      </main>
    </div>
  );
}

function roleName(role: string): string {
  return role.charAt(0) + role.slice(1).toLowerCase();
}
