// Which actions the dashboard offers to whom (README, "who may do what"; the API
// enforces the same rules, this only hides buttons that would be refused).

import type { Shipment, User } from '../api/types';
import type { Transition } from '../api/client';

export function canCreateShipment(user: User): boolean {
  return user.role === 'MANAGER' || user.role === 'PHARMACIST' || user.role === 'ADMIN';
}

/** A MANAGER of the organisation, or an ADMIN, sets its notification policy. */
export function canSetNotifications(user: User): boolean {
  return user.role === 'MANAGER' || user.role === 'ADMIN';
}

export function canAcknowledge(user: User): boolean {
  return user.role === 'MANAGER' || user.role === 'PHARMACIST' || user.role === 'ADMIN';
}

/** The shipper's driver, manager or admin, until the trip is over. */
export function canDeclareSilences(user: User, shipment: Shipment): boolean {
  const final = shipment.state === 'DELIVERED' || shipment.state === 'CANCELLED';
  const role = user.role === 'DRIVER' || user.role === 'MANAGER' || user.role === 'ADMIN';
  return !final && role && user.org_id === shipment.shipper_org_id;
}

export function allowedTransitions(user: User, shipment: Shipment): Transition[] {
  const shipper = user.org_id === shipment.shipper_org_id;
  const recipient = user.org_id === shipment.recipient_org_id;
  const role = user.role;
  const managerLike = role === 'MANAGER' || role === 'ADMIN';
  const out: Transition[] = [];
  switch (shipment.state) {
    case 'PENDING':
      if (shipper && managerLike) out.push('dispatch');
      if ((shipper || recipient) && managerLike) out.push('cancel');
      break;
    case 'DISPATCHED':
      if (shipper && (managerLike || role === 'DRIVER')) out.push('start');
      if ((shipper || recipient) && managerLike) out.push('cancel');
      break;
    case 'IN_TRANSIT':
      if ((shipper && (managerLike || role === 'DRIVER')) || (recipient && (managerLike || role === 'PHARMACIST'))) {
        out.push('deliver');
      }
      break;
    default:
      break;
  }
  return out;
}
