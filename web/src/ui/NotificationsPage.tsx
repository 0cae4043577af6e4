// The organisation's notification policy: who is mailed about MAJOR and CRITICAL alarms, in
// which time zone, and how an alarm nobody acknowledges is reminded and escalated. Everyone of
// the organisation reads it; its managers (and admins) change it.

import { useEffect, useState } from 'react';
import { ApiError } from '../api/session';
import type { Audience, NotificationPolicy, Role } from '../api/types';
import { useApp } from './AppContext';
import { canSetNotifications } from './permissions';
import { useOrganisations } from './useOrganisations';

const ROLES: Role[] = ['MANAGER', 'PHARMACIST', 'DRIVER', 'ADMIN'];
const ZONES = ['UTC', 'Europe/Berlin', 'Europe/London', 'Europe/Madrid', 'Europe/Rome', 'Europe/Warsaw', 'America/New_York', 'America/Chicago', 'Asia/Singapore'];

/** The addresses of a text field: split on commas, blanks and new lines. */
export function addressesOf(text: string): string[] {
  return text
    .split(/[\s,;]+/)
    .map((a) => a.trim())
    .filter((a) => a.length > 0);
}

/** The people a step of the chain reaches, in words. */
export function audienceText(audience: Audience): string {
  const parts = audience.roles.map((r) => `${r.toLowerCase()}s`);
  if (audience.shipment_driver) parts.push("the shipment's driver");
  parts.push(...audience.emails);
  return parts.length === 0 ? 'nobody' : parts.join(', ');
}

function AudienceFields({
  name,
  audience,
  editable,
  onChange,
}: {
  name: string;
  audience: Audience;
  editable: boolean;
  onChange: (a: Audience) => void;
}) {
  const [emails, setEmails] = useState(audience.emails.join(', '));
  useEffect(() => setEmails(audience.emails.join(', ')), [audience.emails]);
  return (
    <fieldset className="audience" data-testid={`audience-${name}`} disabled={!editable}>
      <legend>{name}</legend>
      {ROLES.map((role) => (
        <label key={role} className="check">
          <input
            type="checkbox"
            aria-label={`${name}: ${role}`}
            checked={audience.roles.includes(role)}
            onChange={(e) =>
              onChange({
                ...audience,
                roles: e.target.checked ? [...audience.roles, role] : audience.roles.filter((r) => r !== role),
              })
            }
          />{' '}
          {role.toLowerCase()}s
        </label>
      ))}
      <label className="check">
        <input
          type="checkbox"
          aria-label={`${name}: the shipment's driver`}
          checked={audience.shipment_driver}
          onChange={(e) => onChange({ ...audience, shipment_driver: e.target.checked })}
        />{' '}
        the shipment&apos;s driver
      </label>
      <input
        aria-label={`${name}: extra addresses`}
        placeholder="extra addresses, e.g. qa@hospital.example"
        value={emails}
        onChange={(e) => setEmails(e.target.value)}
        onBlur={() => onChange({ ...audience, emails: addressesOf(emails) })}
      />
    </fieldset>
  );
}

/** A whole number field; blank is NaN, which the API refuses naming the field. */
function NumberInput({
  label,
  value,
  min,
  max,
  onChange,
}: {
  label: string;
  value: number;
  min: number;
  max: number;
  onChange: (value: number) => void;
}) {
  return (
    <input
      type="number"
      aria-label={label}
      min={min}
      max={max}
      value={Number.isNaN(value) ? '' : value}
      onChange={(e) => onChange(e.target.value.trim() === '' ? Number.NaN : Number(e.target.value))}
    />
  );
}

export function NotificationsPage() {
  const { api, user } = useApp();
  const orgs = useOrganisations();
  const editable = canSetNotifications(user);
  const [policy, setPolicy] = useState<NotificationPolicy | null>(null);
  const [isDefault, setIsDefault] = useState(false);
  const [errors, setErrors] = useState<{ field: string; message: string }[]>([]);
  const [message, setMessage] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api.notificationPolicy(user.org_id).then(
      (answer) => {
        setPolicy(answer.policy);
        setIsDefault(answer.default);
      },
      (e: unknown) => setMessage(e instanceof Error ? e.message : String(e)),
    );
  }, [api, user.org_id]);

  if (!policy) return <section className="card muted">{message ?? 'Loading…'}</section>;
  const escalation = policy.escalation;
  const setEscalation = (change: Partial<NotificationPolicy['escalation']>) =>
    setPolicy({ ...policy, escalation: { ...escalation, ...change } });

  const save = async () => {
    setBusy(true);
    setErrors([]);
    setMessage(null);
    try {
      const answer = await api.setNotificationPolicy(user.org_id, policy);
      setPolicy(answer.policy);
      setIsDefault(false);
      setMessage('Saved.');
    } catch (e) {
      if (e instanceof ApiError && e.status === 400) {
        setErrors(e.fieldErrors.length > 0 ? e.fieldErrors : [{ field: 'policy', message: e.message }]);
      } else {
        setMessage(e instanceof Error ? e.message : String(e));
      }
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="card" data-testid="notifications">
      <h2>
        Notifications · {orgs.name(user.org_id)}{' '}
        {isDefault && (
          <span className="badge" data-testid="policy-default">
            default
          </span>
        )}
      </h2>
      <p className="muted small">
        Who of your organisation is mailed about the MAJOR and CRITICAL alarms of its shipments, and how an alarm nobody
        acknowledges is reminded and escalated. Nobody matching falls back to your admins.
        {!editable && ' Only a manager or an admin changes it.'}
      </p>
      <form
        className="policy-form"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        <label>
          Time zone of the mails{' '}
          <input
            aria-label="Time zone"
            list="time-zones"
            value={policy.time_zone}
            disabled={!editable}
            onChange={(e) => setPolicy({ ...policy, time_zone: e.target.value })}
          />
          <datalist id="time-zones">
            {ZONES.map((z) => (
              <option key={z} value={z} />
            ))}
          </datalist>
        </label>
        <AudienceFields name="MAJOR" audience={policy.major} editable={editable} onChange={(major) => setPolicy({ ...policy, major })} />
        <AudienceFields
          name="CRITICAL"
          audience={policy.critical}
          editable={editable}
          onChange={(critical) => setPolicy({ ...policy, critical })}
        />
        <fieldset className="escalation" disabled={!editable}>
          <legend>Nobody acknowledges</legend>
          <label>
            every <NumberInput label="MAJOR minutes" max={1440} value={escalation.major_after_minutes} min={1} onChange={(v) => setEscalation({ major_after_minutes: v })} />{' '}
            min (MAJOR), <NumberInput label="CRITICAL minutes" max={1440} value={escalation.critical_after_minutes} min={1} onChange={(v) => setEscalation({ critical_after_minutes: v })} />{' '}
            min (CRITICAL):
          </label>
          <label>
            remind the same people <NumberInput label="Reminders" max={5} value={escalation.reminders} min={0} onChange={(v) => setEscalation({ reminders: v })} />{' '}
            times, then add, one step after another:
          </label>
          {escalation.tiers.map((tier, i) => (
            <div key={i} className="tier">
              <AudienceFields
                name={`Tier ${i + 1}`}
                audience={tier}
                editable={editable}
                onChange={(next) => setEscalation({ tiers: escalation.tiers.map((t, j) => (j === i ? next : t)) })}
              />
              {editable && (
                <button type="button" className="link" onClick={() => setEscalation({ tiers: escalation.tiers.filter((_, j) => j !== i) })}>
                  Remove tier {i + 1}
                </button>
              )}
            </div>
          ))}
          {editable && escalation.tiers.length < 5 && (
            <button
              type="button"
              className="link"
              onClick={() => setEscalation({ tiers: [...escalation.tiers, { roles: ['ADMIN'], shipment_driver: false, emails: [] }] })}
            >
              Add a tier
            </button>
          )}
          <p className="muted small" data-testid="chain-summary">
            {chainText(policy)}
          </p>
        </fieldset>
        {editable && (
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Saving…' : 'Save policy'}
          </button>
        )}
      </form>
      {errors.length > 0 && (
        <ul className="error small" role="alert" data-testid="policy-errors">
          {errors.map((e) => (
            <li key={`${e.field}: ${e.message}`}>
              {e.field}: {e.message}
            </li>
          ))}
        </ul>
      )}
      {message && (
        <p className="small" role="status">
          {message}
        </p>
      )}
    </section>
  );
}

/** The chain of a CRITICAL alarm, in words. */
export function chainText(policy: NotificationPolicy): string {
  const { critical_after_minutes: every, reminders, tiers } = policy.escalation;
  const steps = [`first ${audienceText(policy.critical)}`];
  for (let i = 1; i <= reminders; i += 1) steps.push(`after ${i * every} min a reminder`);
  tiers.forEach((tier, i) => steps.push(`after ${(reminders + i + 1) * every} min also ${audienceText(tier)}`));
  return `A CRITICAL alarm: ${steps.join('; ')}.`;
}
