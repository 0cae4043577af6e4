//! The built-in map: distribution hubs, hospitals and pharmacies in the
//! Netherlands, Belgium and the west of Germany, the routes between them
//! (waypoints along the motorways a truck would take) and the cargo trucks
//! carry.

use crate::geo::{LatLon, Polyline};

/// What a place is; recipients become organisations of that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceKind {
    /// A distribution hub of the logistics operator (routes start here).
    Hub,
    /// A hospital (organisation kind `HOSPITAL`).
    Hospital,
    /// A pharmacy (organisation kind `PHARMACY`).
    Pharmacy,
}

impl PlaceKind {
    /// The organisation kind of the API, for recipients.
    pub fn organisation_kind(self) -> &'static str {
        match self {
            PlaceKind::Hub => "LOGISTICS_OPERATOR",
            PlaceKind::Hospital => "HOSPITAL",
            PlaceKind::Pharmacy => "PHARMACY",
        }
    }
}

/// A place on the map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Place {
    /// Stable key (used in the state file and in e-mail addresses).
    pub key: &'static str,
    /// Name as shown to people.
    pub name: &'static str,
    /// What it is.
    pub kind: PlaceKind,
    /// Where it is.
    pub at: LatLon,
}

const fn place(
    key: &'static str,
    name: &'static str,
    kind: PlaceKind,
    lat: f64,
    lon: f64,
) -> Place {
    Place {
        key,
        name,
        kind,
        at: LatLon::new(lat, lon),
    }
}

use PlaceKind::{Hospital, Hub, Pharmacy};

/// Every place.
pub const PLACES: &[Place] = &[
    place(
        "rotterdam-hub",
        "Distribution hub Rotterdam Waalhaven",
        Hub,
        51.8925,
        4.4280,
    ),
    place(
        "venlo-hub",
        "Distribution hub Venlo Trade Port",
        Hub,
        51.3820,
        6.1050,
    ),
    place(
        "antwerp-hub",
        "Distribution hub Antwerp Noorderlaan",
        Hub,
        51.2640,
        4.3950,
    ),
    place(
        "erasmus-mc",
        "Erasmus MC, Rotterdam",
        Hospital,
        51.9105,
        4.4685,
    ),
    place(
        "amsterdam-umc",
        "Amsterdam UMC, location AMC",
        Hospital,
        52.2942,
        4.9584,
    ),
    place("umc-utrecht", "UMC Utrecht", Hospital, 52.0859, 5.1786),
    place(
        "radboudumc",
        "Radboudumc, Nijmegen",
        Hospital,
        51.8245,
        5.8609,
    ),
    place("mumc", "Maastricht UMC+", Hospital, 50.8330, 5.7473),
    place("uza", "UZA, Edegem (Antwerp)", Hospital, 51.1560, 4.4450),
    place(
        "uz-leuven",
        "UZ Leuven Gasthuisberg",
        Hospital,
        50.8800,
        4.6720,
    ),
    place(
        "ukd",
        "Universitätsklinikum Düsseldorf",
        Hospital,
        51.1907,
        6.7940,
    ),
    place(
        "uk-essen",
        "Universitätsklinikum Essen",
        Hospital,
        51.4357,
        6.9887,
    ),
    place("uk-koeln", "Uniklinik Köln", Hospital, 50.9247, 6.9183),
    place(
        "apotheke-koeln-hbf",
        "Apotheke im Hauptbahnhof Köln",
        Pharmacy,
        50.9430,
        6.9585,
    ),
    place(
        "apotheek-erasmus-mc",
        "Poliklinische apotheek Erasmus MC, Rotterdam",
        Pharmacy,
        51.9112,
        4.4672,
    ),
];

/// The place with `key`.
pub fn place_by_key(key: &str) -> Option<&'static Place> {
    PLACES.iter().find(|place| place.key == key)
}

/// A route from a hub to a recipient, through waypoints along the roads.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Route {
    /// Stable key.
    pub key: &'static str,
    /// Key of the hub it starts at.
    pub from: &'static str,
    /// Key of the recipient it ends at.
    pub to: &'static str,
    /// Intermediate points (lat, lon).
    pub via: &'static [(f64, f64)],
}

impl Route {
    /// Where it starts.
    pub fn origin(&self) -> &'static Place {
        place_by_key(self.from).expect("a catalogue route starts at a catalogue place")
    }

    /// Where it ends.
    pub fn destination(&self) -> &'static Place {
        place_by_key(self.to).expect("a catalogue route ends at a catalogue place")
    }

    /// The route as a polyline: origin, waypoints, destination.
    pub fn polyline(&self) -> Polyline {
        let mut points = vec![self.origin().at];
        points.extend(self.via.iter().map(|&(lat, lon)| LatLon::new(lat, lon)));
        points.push(self.destination().at);
        Polyline::new(points)
    }
}

/// Every route.
pub const ROUTES: &[Route] = &[
    Route {
        key: "rotterdam-erasmus",
        from: "rotterdam-hub",
        to: "erasmus-mc",
        via: &[(51.8960, 4.4450), (51.9010, 4.4660), (51.9090, 4.4650)],
    },
    Route {
        key: "rotterdam-erasmus-apotheek",
        from: "rotterdam-hub",
        to: "apotheek-erasmus-mc",
        via: &[(51.8960, 4.4450), (51.9010, 4.4660), (51.9095, 4.4640)],
    },
    Route {
        key: "rotterdam-utrecht",
        from: "rotterdam-hub",
        to: "umc-utrecht",
        via: &[
            (51.8780, 4.4700),
            (51.8760, 4.5900),
            (51.9150, 4.5650),
            (51.9560, 4.5250),
            (52.0150, 4.6950),
            (52.0800, 4.8800),
            (52.0600, 5.0450),
            (52.0800, 5.1400),
        ],
    },
    Route {
        key: "rotterdam-amsterdam",
        from: "rotterdam-hub",
        to: "amsterdam-umc",
        via: &[
            (51.8870, 4.3900),
            (51.9450, 4.3750),
            (52.0100, 4.3800),
            (52.1500, 4.5100),
            (52.2950, 4.7250),
            (52.3150, 4.8400),
            (52.3000, 4.9300),
        ],
    },
    Route {
        key: "rotterdam-antwerp",
        from: "rotterdam-hub",
        to: "uza",
        via: &[
            (51.8760, 4.5900),
            (51.7050, 4.6350),
            (51.5800, 4.7300),
            (51.4700, 4.7500),
            (51.3500, 4.6400),
            (51.2400, 4.4700),
            (51.2000, 4.4500),
        ],
    },
    Route {
        key: "venlo-nijmegen",
        from: "venlo-hub",
        to: "radboudumc",
        via: &[
            (51.4000, 6.1400),
            (51.5300, 6.0000),
            (51.6400, 5.9400),
            (51.7700, 5.8400),
            (51.8100, 5.8500),
        ],
    },
    Route {
        key: "venlo-maastricht",
        from: "venlo-hub",
        to: "mumc",
        via: &[
            (51.3300, 6.1000),
            (51.2100, 6.0300),
            (51.1000, 5.8700),
            (51.0000, 5.8500),
            (50.9000, 5.7800),
            (50.8450, 5.7200),
        ],
    },
    Route {
        key: "venlo-duesseldorf",
        from: "venlo-hub",
        to: "ukd",
        via: &[
            (51.3300, 6.1800),
            (51.2500, 6.3500),
            (51.2000, 6.4400),
            (51.1900, 6.6500),
            (51.2000, 6.7400),
        ],
    },
    Route {
        key: "venlo-koeln",
        from: "venlo-hub",
        to: "uk-koeln",
        via: &[
            (51.3300, 6.1800),
            (51.2000, 6.4400),
            (51.1300, 6.6000),
            (51.0500, 6.7500),
            (50.9800, 6.8800),
        ],
    },
    Route {
        key: "venlo-koeln-hbf",
        from: "venlo-hub",
        to: "apotheke-koeln-hbf",
        via: &[
            (51.3300, 6.1800),
            (51.2000, 6.4400),
            (51.1300, 6.6000),
            (51.0500, 6.7500),
            (50.9800, 6.9200),
        ],
    },
    Route {
        key: "venlo-essen",
        from: "venlo-hub",
        to: "uk-essen",
        via: &[
            (51.4400, 6.2700),
            (51.4500, 6.6000),
            (51.4300, 6.7300),
            (51.4300, 6.8000),
            (51.4200, 6.9000),
        ],
    },
    Route {
        key: "antwerp-edegem",
        from: "antwerp-hub",
        to: "uza",
        via: &[(51.2400, 4.4200), (51.2000, 4.4400), (51.1700, 4.4450)],
    },
    Route {
        key: "antwerp-leuven",
        from: "antwerp-hub",
        to: "uz-leuven",
        via: &[
            (51.2400, 4.4200),
            (51.1600, 4.4600),
            (51.0500, 4.4700),
            (50.9900, 4.5200),
            (50.9300, 4.6300),
        ],
    },
    Route {
        key: "antwerp-maastricht",
        from: "antwerp-hub",
        to: "mumc",
        via: &[
            (51.2200, 4.4700),
            (51.1800, 4.8300),
            (51.1600, 5.0000),
            (50.9900, 5.2000),
            (50.9400, 5.3200),
            (50.9700, 5.6600),
            (50.8700, 5.7000),
        ],
    },
];

/// The route with `key`.
pub fn route_by_key(key: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|route| route.key == key)
}

/// The temperature profile of a cargo (the API's profile kinds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// 2…8 °C.
    Refrigerated,
    /// −25…−15 °C.
    Frozen,
    /// 15…25 °C.
    ControlledRoom,
}

impl Profile {
    /// The API's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Refrigerated => "REFRIGERATED",
            Profile::Frozen => "FROZEN",
            Profile::ControlledRoom => "CONTROLLED_ROOM",
        }
    }

    /// The temperature the cargo space is held at, °C.
    pub fn setpoint_c(self) -> f64 {
        match self {
            Profile::Refrigerated => 5.0,
            Profile::Frozen => -20.0,
            Profile::ControlledRoom => 20.0,
        }
    }

    /// The domain's profile (its range, alarm delay and budget).
    pub fn domain(self) -> pharmaguard_domain::shipment::TemperatureProfile {
        use pharmaguard_domain::shipment::TemperatureProfile;
        match self {
            Profile::Refrigerated => TemperatureProfile::Refrigerated,
            Profile::Frozen => TemperatureProfile::Frozen,
            Profile::ControlledRoom => TemperatureProfile::ControlledRoom,
        }
    }
}

/// A load a truck carries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cargo {
    /// Product description.
    pub product: &'static str,
    /// Units.
    pub quantity: u32,
    /// Value in EUR, as the API's decimal string.
    pub value_eur: &'static str,
    /// Temperature profile.
    pub profile: Profile,
}

const fn cargo(
    product: &'static str,
    quantity: u32,
    value_eur: &'static str,
    profile: Profile,
) -> Cargo {
    Cargo {
        product,
        quantity,
        value_eur,
        profile,
    }
}

/// Refrigerated cargo (most shipments).
pub const REFRIGERATED_CARGO: &[Cargo] = &[
    cargo(
        "Insulin pens, 3 ml",
        2400,
        "36000.00",
        Profile::Refrigerated,
    ),
    cargo(
        "Influenza vaccine, prefilled syringes",
        1500,
        "18750.00",
        Profile::Refrigerated,
    ),
    cargo(
        "Monoclonal antibody, infusion vials",
        120,
        "240000.00",
        Profile::Refrigerated,
    ),
    cargo(
        "Hepatitis B vaccine, single-dose vials",
        800,
        "24000.00",
        Profile::Refrigerated,
    ),
];

/// Frozen cargo.
pub const FROZEN_CARGO: &[Cargo] = &[
    cargo(
        "mRNA vaccine, multi-dose vials",
        600,
        "48000.00",
        Profile::Frozen,
    ),
    cargo(
        "Varicella vaccine, frozen vials",
        400,
        "28000.00",
        Profile::Frozen,
    ),
];

/// Controlled room temperature cargo.
pub const CONTROLLED_ROOM_CARGO: &[Cargo] = &[
    cargo(
        "Oral antibiotics, blister packs",
        5000,
        "12500.00",
        Profile::ControlledRoom,
    ),
    cargo(
        "Oncology tablets, bottles of 30",
        300,
        "90000.00",
        Profile::ControlledRoom,
    ),
];

/// A cargo drawn with `rng`: 70 % refrigerated, 15 % frozen, 15 % controlled room.
pub fn pick_cargo(rng: &mut crate::rng::Rng) -> Cargo {
    let draw = rng.unit();
    let list = if draw < 0.70 {
        REFRIGERATED_CARGO
    } else if draw < 0.85 {
        FROZEN_CARGO
    } else {
        CONTROLLED_ROOM_CARGO
    };
    list[rng.index(list.len())]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geo::distance_km;
    use crate::rng::Rng;

    #[test]
    fn every_route_joins_a_hub_to_a_recipient_along_plausible_roads() {
        for route in ROUTES {
            assert_eq!(route.origin().kind, PlaceKind::Hub, "{}", route.key);
            assert_ne!(route.destination().kind, PlaceKind::Hub, "{}", route.key);
            let line = route.polyline();
            let straight = distance_km(route.origin().at, route.destination().at);
            // roads are longer than the straight line, but not absurdly so
            assert!(line.length_km() >= straight, "{}", route.key);
            assert!(
                line.length_km() <= straight * 1.6 + 3.0,
                "{}: {} km",
                route.key,
                line.length_km()
            );
            // no hop between two points is a jump across the country
            for pair in line.points().windows(2) {
                assert!(distance_km(pair[0], pair[1]) < 45.0, "{}", route.key);
            }
        }
    }

    #[test]
    fn keys_are_unique_and_places_exist() {
        for (i, a) in PLACES.iter().enumerate() {
            assert!(PLACES[i + 1..].iter().all(|b| b.key != a.key), "{}", a.key);
        }
        for (i, a) in ROUTES.iter().enumerate() {
            assert!(ROUTES[i + 1..].iter().all(|b| b.key != a.key), "{}", a.key);
            assert_eq!(route_by_key(a.key), Some(a));
        }
    }

    #[test]
    fn cargo_is_mostly_refrigerated() {
        let mut rng = Rng::new(1);
        let picks: Vec<Cargo> = (0..1000).map(|_| pick_cargo(&mut rng)).collect();
        let refrigerated = picks
            .iter()
            .filter(|c| c.profile == Profile::Refrigerated)
            .count();
        assert!((600..800).contains(&refrigerated), "{refrigerated}");
        assert!(picks.iter().any(|c| c.profile == Profile::Frozen));
        assert!(picks.iter().any(|c| c.profile == Profile::ControlledRoom));
    }
}
