// The live map: one marker per shipment on its way, coloured by state and ringed by
// its worst active alarm, with a popup (temperature, last seen, alarms). The tile
// layer is decoration only: when tiles cannot be loaded (an offline machine) the map
// keeps a plain background, the markers and the route lines, and says so.

import L from 'leaflet';
import { useEffect, useRef, useState } from 'react';
import type { Tracking } from '../api/types';
import { worstSeverity } from '../live/reducer';
import { shipmentHref } from '../router';
import { alarmTypeName, escapeHtml, fmtAgo, fmtTemp, fmtTime, stateName } from '../util/format';

interface Props {
  trackings: Tracking[];
  tileUrl: string;
  tileAttribution: string;
  selected?: string | null;
  height?: number | string;
}

interface Entry {
  marker: L.Marker;
  route: L.Polyline | null;
  /** Where the truck was seen while the page is open, as a fading line behind it. */
  trail: L.Polyline;
  key: string;
}

const TRAIL_POINTS = 120;

/** Where a shipment is drawn: its latest reading, else its origin. */
export function positionOf(tracking: Tracking): [number, number] | null {
  if (tracking.latest) return [tracking.latest.lat, tracking.latest.lon];
  if (tracking.origin) return [tracking.origin.lat, tracking.origin.lon];
  return null;
}

export function TrackingMap({ trackings, tileUrl, tileAttribution, selected, height = 520 }: Props) {
  const container = useRef<HTMLDivElement>(null);
  const mapRef = useRef<L.Map | null>(null);
  const entries = useRef(new Map<string, Entry>());
  const latest = useRef(new Map<string, Tracking>());
  const fitted = useRef(false);
  const [tiles, setTiles] = useState<'loading' | 'ok' | 'failed' | 'none'>(tileUrl ? 'loading' : 'none');

  // the map itself, once
  useEffect(() => {
    if (!container.current) return;
    const map = L.map(container.current, { worldCopyJump: true, zoomControl: true }).setView([51.6, 5.5], 7);
    mapRef.current = map;
    if (tileUrl) {
      let loaded = 0;
      let failed = 0;
      const layer = L.tileLayer(tileUrl, { attribution: tileAttribution, maxZoom: 18, crossOrigin: true });
      layer.on('tileload', () => {
        loaded += 1;
        setTiles('ok');
      });
      layer.on('tileerror', () => {
        failed += 1;
        if (loaded === 0 && failed >= 1) setTiles('failed');
      });
      layer.addTo(map);
    }
    const current = entries.current;
    return () => {
      map.remove();
      mapRef.current = null;
      current.clear();
      fitted.current = false;
    };
  }, [tileUrl, tileAttribution]);

  // markers follow the data
  useEffect(() => {
    const map = mapRef.current;
    if (!map) return;
    const present = new Set<string>();
    for (const tracking of trackings) {
      const position = positionOf(tracking);
      if (!position) continue;
      present.add(tracking.shipment_id);
      latest.current.set(tracking.shipment_id, tracking);
      const worst = worstSeverity(tracking.active_alarms);
      const key = `${tracking.state}|${worst ?? ''}|${tracking.latest ? 'live' : 'none'}|${selected === tracking.shipment_id}`;
      let entry = entries.current.get(tracking.shipment_id);
      if (!entry) {
        const marker = L.marker(position, { icon: iconFor(tracking, worst, selected), riseOnHover: true, keyboard: true });
        const id = tracking.shipment_id;
        marker.bindPopup(() => popupHtml(latest.current.get(id) ?? tracking), { minWidth: 220 });
        marker.addTo(map);
        const route =
          tracking.origin && tracking.destination
            ? L.polyline(
                [
                  [tracking.origin.lat, tracking.origin.lon],
                  [tracking.destination.lat, tracking.destination.lon],
                ],
                { color: '#64748b', weight: 1.5, dashArray: '4 6', opacity: 0.7, interactive: false },
              ).addTo(map)
            : null;
        const trail = L.polyline(tracking.latest ? [position] : [], {
          color: '#0e7490',
          weight: 3,
          opacity: 0.55,
          interactive: false,
        }).addTo(map);
        entry = { marker, route, trail, key };
        entries.current.set(tracking.shipment_id, entry);
      } else {
        if (entry.key !== key) {
          entry.marker.setIcon(iconFor(tracking, worst, selected));
          entry.key = key;
        }
        const old = entry.marker.getLatLng();
        if (old.lat !== position[0] || old.lng !== position[1]) {
          entry.marker.setLatLng(position);
          if (tracking.latest) {
            const points = entry.trail.getLatLngs() as L.LatLng[];
            points.push(L.latLng(position[0], position[1]));
            entry.trail.setLatLngs(points.slice(-TRAIL_POINTS));
          }
        }
      }
      if (entry.marker.isPopupOpen()) entry.marker.setPopupContent(popupHtml(tracking));
      const element = entry.marker.getElement();
      if (element) {
        element.dataset.shipmentId = tracking.shipment_id;
        element.dataset.state = tracking.state;
        element.dataset.lat = String(position[0]);
        element.dataset.lon = String(position[1]);
        element.dataset.alarm = worst ?? '';
        element.setAttribute('aria-label', `${tracking.product ?? tracking.shipment_id}: ${stateName(tracking.state)}`);
      }
    }
    for (const [id, entry] of entries.current) {
      if (!present.has(id)) {
        entry.marker.remove();
        entry.route?.remove();
        entry.trail.remove();
        entries.current.delete(id);
        latest.current.delete(id);
      }
    }
    if (!fitted.current && present.size > 0) {
      fitted.current = true;
      fitAll(map, entries.current);
    }
  }, [trackings, selected]);

  // a selected shipment is brought into view
  useEffect(() => {
    const entry = selected ? entries.current.get(selected) : undefined;
    if (entry && mapRef.current) {
      mapRef.current.panTo(entry.marker.getLatLng());
      entry.marker.openPopup();
    }
  }, [selected]);

  return (
    // the container's own class list belongs to Leaflet: state goes on the wrapper
    <div className={`map-wrap ${tiles === 'failed' || tiles === 'none' ? 'no-tiles' : ''}`}>
      <div
        ref={container}
        className="map"
        style={{ height }}
        data-testid="map"
        data-tiles={tiles}
      />
      <div className="map-tools">
        <button type="button" onClick={() => mapRef.current && fitAll(mapRef.current, entries.current)}>
          Show all
        </button>
      </div>
      {tiles === 'failed' && (
        <div className="map-note" data-testid="tiles-unavailable">
          Map tiles could not be loaded (offline?): positions are shown on a plain background.
        </div>
      )}
      <Legend />
    </div>
  );
}

function fitAll(map: L.Map, entries: Map<string, Entry>) {
  const points = [...entries.values()].map((e) => e.marker.getLatLng());
  if (points.length === 0) return;
  map.fitBounds(L.latLngBounds(points).pad(0.2), { maxZoom: 10 });
}

function iconFor(tracking: Tracking, worst: string | null, selected?: string | null): L.DivIcon {
  const classes = [
    'pg-marker',
    `state-${tracking.state}`,
    worst ? `alarm-${worst}` : '',
    tracking.latest ? '' : 'no-reading',
    selected === tracking.shipment_id ? 'selected' : '',
  ]
    .filter(Boolean)
    .join(' ');
  return L.divIcon({
    className: classes,
    html: '<span class="pg-dot"></span>',
    iconSize: [22, 22],
    iconAnchor: [11, 11],
    popupAnchor: [0, -10],
  });
}

function popupHtml(t: Tracking): string {
  const latest = t.latest;
  const band = t.profile ? `${t.profile.min_c}…${t.profile.max_c} °C` : '';
  const out =
    latest && t.profile && (latest.temperature_c < t.profile.min_c || latest.temperature_c > t.profile.max_c);
  const alarms = t.active_alarms.length
    ? `<ul class="popup-alarms">${t.active_alarms
        .map(
          (a) =>
            `<li class="sev-${escapeHtml(a.severity)}">${escapeHtml(a.severity)} · ${escapeHtml(alarmTypeName(a.alarm_type))}${
              a.state === 'ACTIVE_ACK' ? ' (acknowledged)' : ''
            }</li>`,
        )
        .join('')}</ul>`
    : '<div class="muted">No active alarm</div>';
  return `<div class="popup" data-testid="marker-popup">
    <div class="popup-title">${escapeHtml(t.product ?? t.shipment_id)}</div>
    <div class="muted">${escapeHtml(stateName(t.state))}${t.device_id ? ` · ${escapeHtml(t.device_id)}` : ''}</div>
    ${
      t.origin && t.destination
        ? `<div>${escapeHtml(t.origin.name)} → ${escapeHtml(t.destination.name)}</div>`
        : ''
    }
    <div class="popup-temp ${out ? 'out' : ''}">${escapeHtml(fmtTemp(latest?.temperature_c))} <span class="muted">(band ${escapeHtml(band)})</span></div>
    <div>Last seen: ${latest ? `${escapeHtml(fmtAgo(latest.ts))} <span class="muted">${escapeHtml(fmtTime(latest.ts))}</span>` : 'no reading yet'}</div>
    ${alarms}
    <a href="${shipmentHref(t.shipment_id)}">Details →</a>
  </div>`;
}

function Legend() {
  return (
    <div className="map-legend" aria-label="Legend">
      <span>
        <i className="pg-legend state-DISPATCHED" /> Dispatched
      </span>
      <span>
        <i className="pg-legend state-IN_TRANSIT" /> In transit
      </span>
      <span>
        <i className="pg-legend state-DELIVERED" /> Delivered
      </span>
      <span>
        <i className="pg-legend ring" /> Active alarm
      </span>
    </div>
  );
}
