// Hash routes, so that the static site needs no server-side rewrites and the alarm
// emails' links ({DashboardUrl}/#/shipments/{id}) open the right page.

import { useEffect, useState } from 'react';

export type Route =
  | { page: 'live' }
  | { page: 'alarms' }
  | { page: 'shipments' }
  | { page: 'new-shipment' }
  | { page: 'shipment'; id: string }
  | { page: 'notifications' }
  | { page: 'not-found'; path: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, '').replace(/\/+$/, '') || '/';
  if (path === '/' || path === '/live') return { page: 'live' };
  if (path === '/alarms') return { page: 'alarms' };
  if (path === '/shipments') return { page: 'shipments' };
  if (path === '/shipments/new') return { page: 'new-shipment' };
  if (path === '/settings/notifications') return { page: 'notifications' };
  const match = /^\/shipments\/([^/]+)$/.exec(path);
  if (match) return { page: 'shipment', id: decodeURIComponent(match[1]) };
  return { page: 'not-found', path };
}

export function href(route: Route): string {
  switch (route.page) {
    case 'live':
      return '#/';
    case 'alarms':
      return '#/alarms';
    case 'shipments':
      return '#/shipments';
    case 'new-shipment':
      return '#/shipments/new';
    case 'shipment':
      return `#/shipments/${encodeURIComponent(route.id)}`;
    case 'notifications':
      return '#/settings/notifications';
    case 'not-found':
      return `#${route.path}`;
  }
}

export function shipmentHref(id: string): string {
  return href({ page: 'shipment', id });
}

export function navigate(route: Route): void {
  window.location.hash = href(route);
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
