// The form to create a shipment order (MANAGER, PHARMACIST or ADMIN of the shipper or
// the recipient). The API validates everything and names each bad field; the form
// shows those messages next to the fields.

import { useState, type FormEvent, type ReactNode } from 'react';
import type { Organisation } from '../api/types';
import { ApiError } from '../api/session';
import type { NewShipment } from '../api/types';
import { PROFILE_KINDS } from '../live/profiles';
import { navigate } from '../router';
import { useApp } from './AppContext';
import { canCreateShipment } from './permissions';
import { useOrganisations } from './useOrganisations';

export interface FormState {
  product: string;
  quantity: string;
  amount: string;
  currency: string;
  kind: string;
  min_c: string;
  max_c: string;
  alarm_delay_minutes: string;
  excursion_budget_minutes: string;
  lower_alarm_delay_minutes: string;
  lower_excursion_budget_minutes: string;
  hot_zone_above_c: string;
  hot_zone_delay_minutes: string;
  cold_zone_below_c: string;
  cold_zone_delay_minutes: string;
  shipper_org_id: string;
  recipient_org_id: string;
  origin_name: string;
  origin_lat: string;
  origin_lon: string;
  destination_name: string;
  destination_lat: string;
  destination_lon: string;
  device_id: string;
  truck_id: string;
}

export function NewShipmentPage() {
  const { api, user } = useApp();
  const orgs = useOrganisations();
  const [form, setForm] = useState<FormState>({
    product: '',
    quantity: '',
    amount: '',
    currency: 'EUR',
    kind: 'REFRIGERATED',
    min_c: '',
    max_c: '',
    alarm_delay_minutes: '',
    excursion_budget_minutes: '',
    lower_alarm_delay_minutes: '',
    lower_excursion_budget_minutes: '',
    hot_zone_above_c: '',
    hot_zone_delay_minutes: '',
    cold_zone_below_c: '',
    cold_zone_delay_minutes: '',
    shipper_org_id: user.org_id,
    recipient_org_id: '',
    origin_name: '',
    origin_lat: '',
    origin_lon: '',
    destination_name: '',
    destination_lat: '',
    destination_lon: '',
    device_id: '',
    truck_id: '',
  });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  if (!canCreateShipment(user)) {
    return (
      <section className="card">
        <h2>New shipment</h2>
        <p>Your role may not create shipments.</p>
      </section>
    );
  }

  const set = (key: keyof FormState) => (e: { target: { value: string } }) =>
    setForm((f) => ({ ...f, [key]: e.target.value }));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const local = validate(form);
    setErrors(local);
    setMessage(null);
    if (Object.keys(local).length > 0) return;
    setBusy(true);
    try {
      const created = await api.createShipment(toRequest(form));
      navigate({ page: 'shipment', id: created.id });
    } catch (e) {
      if (e instanceof ApiError && e.fieldErrors.length > 0) {
        setErrors(Object.fromEntries(e.fieldErrors.map((f) => [f.field, f.message])));
      }
      setMessage(e instanceof Error ? e.message : String(e));
      setBusy(false);
    }
  };

  const field = (name: string, label: string, input: ReactNode) => (
    <label className={errors[name] ? 'invalid' : ''}>
      {label}
      {input}
      {errors[name] && <span className="field-error">{errors[name]}</span>}
    </label>
  );

  return (
    <section className="card">
      <h2>New shipment</h2>
      <form className="form-grid" onSubmit={submit} noValidate>
        <fieldset>
          <legend>Goods</legend>
          {field('product', 'Product', <input value={form.product} onChange={set('product')} maxLength={200} required />)}
          {field('quantity', 'Quantity (units)', <input value={form.quantity} onChange={set('quantity')} inputMode="numeric" />)}
          <div className="row">
            {field('cargo_value.amount', 'Cargo value', <input value={form.amount} onChange={set('amount')} placeholder="48000.00" inputMode="decimal" />)}
            {field('cargo_value.currency', 'Currency', <input value={form.currency} onChange={set('currency')} maxLength={3} size={4} />)}
          </div>
          {field(
            'profile.kind',
            'Temperature profile',
            <select value={form.kind} onChange={set('kind')}>
              {PROFILE_KINDS.map((k) => (
                <option key={k} value={k}>
                  {k.replace(/_/g, ' ').toLowerCase()}
                </option>
              ))}
            </select>,
          )}
          {form.kind === 'CUSTOM' && (
            <>
              <div className="row">
                {field('profile.min_c', 'Min °C', <input value={form.min_c} onChange={set('min_c')} inputMode="decimal" />)}
                {field('profile.max_c', 'Max °C', <input value={form.max_c} onChange={set('max_c')} inputMode="decimal" />)}
                {field('profile.alarm_delay_minutes', 'Alarm delay (min)', <input value={form.alarm_delay_minutes} onChange={set('alarm_delay_minutes')} inputMode="numeric" />)}
                {field('profile.excursion_budget_minutes', 'Excursion budget (min)', <input value={form.excursion_budget_minutes} onChange={set('excursion_budget_minutes')} inputMode="numeric" />)}
              </div>
              <div className="row">
                {field('profile.lower_alarm_delay_minutes', 'Below: alarm delay (min)', <input value={form.lower_alarm_delay_minutes} onChange={set('lower_alarm_delay_minutes')} inputMode="numeric" placeholder="as above" />)}
                {field('profile.lower_excursion_budget_minutes', 'Below: excursion budget (min)', <input value={form.lower_excursion_budget_minutes} onChange={set('lower_excursion_budget_minutes')} inputMode="numeric" placeholder="as above" />)}
              </div>
              <div className="row">
                {field('profile.hot_zone.above_c', 'Hot zone above °C', <input value={form.hot_zone_above_c} onChange={set('hot_zone_above_c')} inputMode="decimal" placeholder="none" />)}
                {field('profile.hot_zone.delay_minutes', 'Hot zone delay (min)', <input value={form.hot_zone_delay_minutes} onChange={set('hot_zone_delay_minutes')} inputMode="numeric" placeholder="0" />)}
              </div>
              <div className="row">
                {field('profile.cold_zone.below_c', 'Cold zone below °C', <input value={form.cold_zone_below_c} onChange={set('cold_zone_below_c')} inputMode="decimal" placeholder="none" />)}
                {field('profile.cold_zone.delay_minutes', 'Cold zone delay (min)', <input value={form.cold_zone_delay_minutes} onChange={set('cold_zone_delay_minutes')} inputMode="numeric" placeholder="0" />)}
              </div>
            </>
          )}
        </fieldset>
        <fieldset>
          <legend>Parties</legend>
          {field(
            'shipper_org_id',
            'Shipper organisation',
            <OrgPicker orgs={orgs.list} value={form.shipper_org_id} onChange={(v) => setForm((f) => ({ ...f, shipper_org_id: v }))} />,
          )}
          {field(
            'recipient_org_id',
            'Recipient organisation',
            <OrgPicker orgs={orgs.list} value={form.recipient_org_id} onChange={(v) => setForm((f) => ({ ...f, recipient_org_id: v }))} />,
          )}
          {field('device_id', 'Device (sensor) id', <input value={form.device_id} onChange={set('device_id')} placeholder="optional" />)}
          {field('truck_id', 'Truck', <input value={form.truck_id} onChange={set('truck_id')} placeholder="optional" />)}
        </fieldset>
        <fieldset>
          <legend>Route</legend>
          {field('origin.name', 'Origin', <input value={form.origin_name} onChange={set('origin_name')} placeholder="Rotterdam hub" />)}
          <div className="row">
            {field('origin.lat', 'Latitude', <input value={form.origin_lat} onChange={set('origin_lat')} inputMode="decimal" />)}
            {field('origin.lon', 'Longitude', <input value={form.origin_lon} onChange={set('origin_lon')} inputMode="decimal" />)}
          </div>
          {field('destination.name', 'Destination', <input value={form.destination_name} onChange={set('destination_name')} placeholder="St. Mary Hospital" />)}
          <div className="row">
            {field('destination.lat', 'Latitude', <input value={form.destination_lat} onChange={set('destination_lat')} inputMode="decimal" />)}
            {field('destination.lon', 'Longitude', <input value={form.destination_lon} onChange={set('destination_lon')} inputMode="decimal" />)}
          </div>
        </fieldset>
        {message && (
          <p className="error" role="alert">
            {message}
          </p>
        )}
        <div className="form-actions">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create shipment'}
          </button>
          <a href="#/shipments">Cancel</a>
        </div>
      </form>
    </section>
  );
}

/** The checks the form can make by itself (the API makes them all again). */
export function validate(f: FormState): Record<string, string> {
  const errors: Record<string, string> = {};
  const num = (v: string) => (v.trim() === '' ? NaN : Number(v));
  if (!f.product.trim()) errors.product = 'required';
  const quantity = num(f.quantity);
  if (!Number.isInteger(quantity) || quantity < 1) errors.quantity = 'a whole number of at least 1';
  if (!/^\d+(\.\d{1,4})?$/.test(f.amount.trim())) errors['cargo_value.amount'] = 'a decimal amount, e.g. 48000.00';
  if (!/^[A-Z]{3}$/.test(f.currency.trim())) errors['cargo_value.currency'] = 'a three-letter code, e.g. EUR';
  if (!f.shipper_org_id.trim()) errors.shipper_org_id = 'required';
  if (!f.recipient_org_id.trim()) errors.recipient_org_id = 'required';
  for (const place of ['origin', 'destination'] as const) {
    if (!f[`${place}_name`].trim()) errors[`${place}.name`] = 'required';
    const lat = num(f[`${place}_lat`]);
    const lon = num(f[`${place}_lon`]);
    if (!(lat >= -90 && lat <= 90)) errors[`${place}.lat`] = '−90 to 90';
    if (!(lon >= -180 && lon <= 180)) errors[`${place}.lon`] = '−180 to 180';
  }
  if (f.kind === 'CUSTOM') {
    const min = num(f.min_c);
    const max = num(f.max_c);
    if (!Number.isFinite(min)) errors['profile.min_c'] = 'required for a custom profile';
    if (!Number.isFinite(max)) errors['profile.max_c'] = 'required for a custom profile';
    if (Number.isFinite(min) && Number.isFinite(max) && min >= max) errors['profile.max_c'] = 'must be above the minimum';
    const hot = num(f.hot_zone_above_c);
    const cold = num(f.cold_zone_below_c);
    if (f.hot_zone_above_c.trim() && !Number.isFinite(hot)) errors['profile.hot_zone.above_c'] = 'a temperature, or empty for none';
    else if (Number.isFinite(hot) && Number.isFinite(max) && hot <= max) errors['profile.hot_zone.above_c'] = 'must be above the maximum';
    if (f.cold_zone_below_c.trim() && !Number.isFinite(cold)) errors['profile.cold_zone.below_c'] = 'a temperature, or empty for none';
    else if (Number.isFinite(cold) && Number.isFinite(min) && cold >= min) errors['profile.cold_zone.below_c'] = 'must be below the minimum';
    if (f.hot_zone_delay_minutes.trim() && !f.hot_zone_above_c.trim()) errors['profile.hot_zone.above_c'] = 'needed for the delay';
    if (f.cold_zone_delay_minutes.trim() && !f.cold_zone_below_c.trim()) errors['profile.cold_zone.below_c'] = 'needed for the delay';
  }
  return errors;
}

/** The request body of the form (after `validate`): a zone only when its temperature is filled in, its delay 0 if empty. */
export function toRequest(f: FormState): NewShipment {
  const profile: NewShipment['profile'] = { kind: f.kind };
  if (f.kind === 'CUSTOM') {
    const optional = (v: string) => (v.trim() ? Number(v) : undefined);
    profile.min_c = Number(f.min_c);
    profile.max_c = Number(f.max_c);
    if (f.alarm_delay_minutes.trim()) profile.alarm_delay_minutes = Number(f.alarm_delay_minutes);
    if (f.excursion_budget_minutes.trim()) profile.excursion_budget_minutes = Number(f.excursion_budget_minutes);
    if (f.lower_alarm_delay_minutes.trim()) profile.lower_alarm_delay_minutes = Number(f.lower_alarm_delay_minutes);
    if (f.lower_excursion_budget_minutes.trim()) profile.lower_excursion_budget_minutes = Number(f.lower_excursion_budget_minutes);
    const hot = optional(f.hot_zone_above_c);
    if (hot !== undefined) profile.hot_zone = { above_c: hot, delay_minutes: optional(f.hot_zone_delay_minutes) ?? 0 };
    const cold = optional(f.cold_zone_below_c);
    if (cold !== undefined) profile.cold_zone = { below_c: cold, delay_minutes: optional(f.cold_zone_delay_minutes) ?? 0 };
  }
  return {
    product: f.product.trim(),
    quantity: Number(f.quantity),
    cargo_value: { amount: f.amount.trim(), currency: f.currency.trim() },
    profile,
    shipper_org_id: f.shipper_org_id.trim(),
    recipient_org_id: f.recipient_org_id.trim(),
    origin: { name: f.origin_name.trim(), lat: Number(f.origin_lat), lon: Number(f.origin_lon) },
    destination: { name: f.destination_name.trim(), lat: Number(f.destination_lat), lon: Number(f.destination_lon) },
    ...(f.device_id.trim() ? { device_id: f.device_id.trim() } : {}),
    ...(f.truck_id.trim() ? { truck_id: f.truck_id.trim() } : {}),
  };
}

/** Picks an organisation by name; one not in the list (the API lists only one's own to non-admins) is entered by id. */
function OrgPicker({ orgs, value, onChange }: { orgs: Organisation[]; value: string; onChange: (id: string) => void }) {
  const known = orgs.some((o) => o.id === value);
  const [typing, setTyping] = useState(false);
  const other = typing || (value !== '' && !known);
  return (
    <span className="org-picker">
      <select
        value={other ? '__other' : value}
        onChange={(e) => {
          if (e.target.value === '__other') {
            setTyping(true);
            onChange('');
          } else {
            setTyping(false);
            onChange(e.target.value);
          }
        }}
      >
        <option value="">choose…</option>
        {orgs.map((o) => (
          <option key={o.id} value={o.id}>
            {o.name} ({o.kind.replace(/_/g, ' ').toLowerCase()})
          </option>
        ))}
        <option value="__other">another organisation (by id)…</option>
      </select>
      {other && (
        <input aria-label="Organisation id" placeholder="org-…" value={value} onChange={(e) => onChange(e.target.value.trim())} />
      )}
    </span>
  );
}
