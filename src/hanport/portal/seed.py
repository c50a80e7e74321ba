"""Seed data for a demo grid area: customers, staff, metering points, meters, terms.

`DEMO_METERS` is also written as a fleet file the meter emulator loads (`write_fleet_toml`),
so the portal's meters and the emulated fleet carry the same meter ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, Engine, or_, select

from hanport.portal.db.schema import (
    contracts,
    inserted_id,
    metering_points,
    meters,
    parties,
    port_states,
    terms_versions,
)
from hanport.portal.domain.gsrn import make_gsrn
from hanport.portal.services.terms import TermsDraft, canonical_text, record_terms, terms_hash
from hanport.portal.services.tx import Tx, transaction, utcnow

__all__ = [
    "DEMO_METERS",
    "DEMO_PARTIES",
    "DEMO_PIDS",
    "DemoMeter",
    "current_customers",
    "fleet_toml",
    "seed_demo",
    "write_fleet_toml",
]

GRID_AREA = "Demo nett – Sunnfjord"
STAFF_EMAIL = "kundeservice@nettselskap.example"

TERMS_NB = """Vilkår for bruk av HAN-porten (versjon {version})

1. Dataene sendes ukryptert. Når porten er åpen, sender måleren måledataene ut av HAN-porten
   uten kryptering. Du bekrefter at måleren er fysisk sikret: inne i boligen, i et låsbart skap
   eller rom, eller i et låst felles målerrom.
2. Utstyret du kobler til. Du er ansvarlig for alt utstyr du kobler til HAN-porten. Skader på
   måleren eller anlegget som skyldes utstyr som ikke er godkjent for tilkobling, er ditt
   ansvar.
3. Personvern og lagring. Nettselskapet mottar ikke dataene fra HAN-porten. Du er selv ansvarlig
   for personvernet og for hvordan dataene lagres, og for hvem som får tilgang til dem.
4. Flytting og oppsigelse. Gi oss beskjed før du flytter eller sier opp avtalen. Porten stenges
   når kundeforholdet på målepunktet opphører.
5. Åpning og stenging er gratis. Du kan be om stenging når som helst.
6. Endringer i vilkårene. Vilkårene kan endres. Når de er endret, viser vi deg den nye
   versjonen neste gang du bestiller, og du godtar den før du sender bestillingen.
"""

TERMS_NN = """Vilkår for bruk av HAN-porten (versjon {version})

1. Dataa er ukrypterte. Når porten er open, sender målaren måledataa ut av HAN-porten utan
   kryptering. Du stadfester at målaren er fysisk sikra: inne i bustaden, i eit låsbart skap
   eller rom, eller i eit låst felles målarrom.
2. Utstyret du koplar til. Du er ansvarleg for alt utstyr du koplar til HAN-porten. Skadar på
   målaren eller anlegget som kjem av utstyr som ikkje er godkjent for tilkopling, er ditt
   ansvar.
3. Personvern og lagring. Nettselskapet får ikkje dataa frå HAN-porten. Du er sjølv ansvarleg
   for personvernet og for korleis dataa blir lagra, og for kven som får tilgang til dei.
4. Flytting og oppseiing. Gi oss beskjed før du flyttar eller seier opp avtalen. Porten blir
   stengd når kundeforholdet på målepunktet tek slutt.
5. Opning og stenging er gratis. Du kan be om stenging når som helst.
6. Endringar i vilkåra. Vilkåra kan endrast. Når dei er endra, viser vi deg den nye versjonen
   neste gong du bestiller, og du godtek han før du sender bestillinga.
"""

TERMS_EN = """Terms of use for the HAN port (version {version})

1. The data is sent unencrypted. While the port is open, the meter sends its metering data out
   of the HAN port without encryption. You confirm that the meter is physically secured: inside
   the home, in a lockable cabinet or room, or in a locked shared meter room.
2. The equipment you connect. You are responsible for all equipment you connect to the HAN
   port. You are liable for damage to the meter or the installation caused by equipment that
   is not approved for connection.
3. Privacy and storage. The grid company does not receive the data from the HAN port. You are
   responsible for the privacy and storage of the data, and for who gets access to it.
4. Moving and ending the contract. Let us know before you move or end the contract. The port
   is closed when the contract on the metering point ends.
5. Opening and closing are free of charge. You may ask for the port to be closed at any time.
6. Changes to the terms. The terms may change. When they have changed, we show you the new
   version the next time you order, and you accept it before you send the order.
"""


@dataclass(frozen=True, slots=True)
class DemoMeter:
    serial: int  #: makes the metering-point id; also the emulated meter's seed
    meter_id: str  #: 16-digit GS1 id as the HAN stream reports it
    manufacturer: str  #: Kamstrup | Aidon | Kaifa (the emulator's brand, lower-cased)
    model: str  #: meter type as the HAN stream reports it
    phases: int
    street: str
    customer_email: str
    han_capable: bool = True
    three_wire: bool = False  #: 3 × 230 V IT grid (no neutral), common in Norway
    prosumer: bool = False  #: solar: exports in daytime

    @property
    def metering_point_id(self) -> str:
        return make_gsrn(self.serial)

    @property
    def brand(self) -> str:
        """The emulator's brand key (``hanport emulate --brand``)."""
        return self.manufacturer.lower()


#: email -> (name, language, role)
DEMO_PARTIES: dict[str, tuple[str, str, str]] = {
    "ola@example.no": ("Ola Nordmann", "nb", "customer"),
    "kari@example.no": ("Kari Nordmann", "nb", "customer"),
    "emma@example.com": ("Emma Smith", "en", "customer"),
    "per@example.no": ("Per Hansen", "nb", "customer"),
    "ingrid@example.no": ("Ingrid Berg", "nb", "customer"),
    "lars@example.no": ("Lars Bakke", "nb", "customer"),
    "sofie@example.no": ("Sofie Lie", "nb", "customer"),
    STAFF_EMAIL: ("Kundeservice Demo", "nb", "staff"),
}

#: email -> the person's synthetic fødselsnummer (ID-porten's `pid`): month + 80 as in
#: Skatteetaten's synthetic test population, so none belongs to a real person; Emma has a
#: d-nummer. services.oidc.enroll_pids stores them as the configuration says (a keyed hash).
DEMO_PIDS: dict[str, str] = {
    "ola@example.no": "14837541213",
    "kari@example.no": "02897850365",
    "emma@example.com": "63919023173",
    "per@example.no": "30816211855",
    "ingrid@example.no": "05868827744",
    "lars@example.no": "19925516441",
    "sofie@example.no": "08840154085",
}

#: The demo grid area. Meter types follow the phases and wiring as the emulator reports them
#: (Kamstrup 6841121… 3-phase IT, 6841131… 3-phase TN, 6861111… 1-phase; Aidon 6525 3-phase IT;
#: Kaifa MA304H4 3-phase TN), so the port service's register and the HAN stream agree.
DEMO_METERS: tuple[DemoMeter, ...] = (
    DemoMeter(
        1,
        "5706567274389701",
        "Kamstrup",
        "6841121BN243101040",
        3,
        "Storgata 1",
        "ola@example.no",
        three_wire=True,
    ),
    DemoMeter(
        2,
        "5706567274389702",
        "Kamstrup",
        "6841121BN243101040",
        3,
        "Hytteveien 12",
        "ola@example.no",
        three_wire=True,
        prosumer=True,
    ),
    DemoMeter(
        3, "5706567274389703", "Kamstrup", "6861111BN242101040", 1, "Fjordgata 3", "kari@example.no"
    ),
    DemoMeter(
        4,
        "5706567274389704",
        "Kamstrup",
        "6841121BN243101040",
        3,
        "Elvebakken 4",
        "emma@example.com",
        three_wire=True,
    ),
    DemoMeter(
        5, "5706567274389705", "Kamstrup", "6841131BN243101040", 3, "Skolevegen 5", "per@example.no"
    ),
    DemoMeter(
        6,
        "5706567274389706",
        "Kamstrup",
        "684112 (old firmware)",
        3,
        "Kaia 6",
        "ingrid@example.no",
        han_capable=False,
    ),
    DemoMeter(
        7,
        "7359992890941742",
        "Aidon",
        "6525",
        3,
        "Bakkevegen 7",
        "lars@example.no",
        three_wire=True,
    ),
    DemoMeter(8, "6970631400532475", "Kaifa", "MA304H4", 3, "Lia 8", "sofie@example.no"),
)


def seed_demo(
    engine: Engine, meters_: tuple[DemoMeter, ...] = DEMO_METERS, now: datetime | None = None
) -> dict[str, int]:
    """Insert the demo area if it is not there yet; returns {email: party id}. Idempotent."""
    now = now or utcnow()
    with transaction(engine, now) as tx:
        ids = {
            email: _party(tx.conn, email, name, lang, role, now)
            for email, (name, lang, role) in DEMO_PARTIES.items()
        }
        for meter in meters_:
            _seed_point(tx.conn, meter, ids, now)
        if tx.conn.execute(select(terms_versions.c.id)).first() is None:
            _seed_terms(tx, now)
        tx.audit("system", "seed.demo", "grid_area", GRID_AREA, meters=len(meters_))
    return ids


def _party(conn: Connection, email: str, name: str, lang: str, role: str, now: datetime) -> int:
    """The party with this address, made if it is not there yet."""
    row = conn.execute(select(parties.c.id).where(parties.c.email == email)).first()
    if row is not None:
        return int(row.id)
    return inserted_id(
        conn.execute(
            parties.insert().values(
                kind="person", display_name=name, email=email, lang=lang, role=role, created_at=now
            )
        )
    )


def _seed_point(conn: Connection, meter: DemoMeter, ids: dict[str, int], now: datetime) -> None:
    """A metering point with its meter, its customer's contract and a closed port."""
    mpid = meter.metering_point_id
    if conn.execute(select(metering_points.c.id).where(metering_points.c.id == mpid)).first():
        return
    since = date(2020, 1, 1)
    conn.execute(
        metering_points.insert().values(
            id=mpid,
            street=meter.street,
            postcode="6800",
            city="Førde",
            grid_area=GRID_AREA,
            status="active",
        )
    )
    conn.execute(
        meters.insert().values(
            meter_id=meter.meter_id,
            serial=meter.meter_id[-8:],
            manufacturer=meter.manufacturer,
            model=meter.model,
            han_capable=meter.han_capable,
            metering_point_id=mpid,
            installed_from=since,
        )
    )
    if meter.customer_email not in ids:
        name = meter.customer_email.split("@")[0].title()
        ids[meter.customer_email] = _party(conn, meter.customer_email, name, "nb", "customer", now)
    conn.execute(
        contracts.insert().values(
            party_id=ids[meter.customer_email], metering_point_id=mpid, valid_from=since
        )
    )
    conn.execute(
        port_states.insert().values(
            metering_point_id=mpid, state="closed", since=now, push_seen=False
        )
    )


def _seed_terms(tx: Tx, now: datetime) -> None:
    # seed data may predate "now", which publish_terms refuses: store it directly, hashed and
    # audited the same way
    text_nb = canonical_text(TERMS_NB.format(version="1.0"))
    text_en = canonical_text(TERMS_EN.format(version="1.0"))
    text_nn = canonical_text(TERMS_NN.format(version="1.0"))
    record_terms(
        tx,
        "system",
        TermsDraft(
            version="1.0",
            text_nb=text_nb,
            text_en=text_en,
            change_summary="Første versjon / First version",
            effective_from=now - timedelta(days=365),
            sha256=terms_hash(text_nb, text_en, text_nn),
            replaces=None,
            text_nn=text_nn,
        ),
        seed=True,
    )


def current_customers(conn: Connection, meter_ids: Iterable[str], on: date) -> dict[str, str]:
    """The e-mail of each meter's customer on `on`, read from the contracts.

    The seed names the first customers only; after a move the contract names the new one.
    """
    rows = conn.execute(
        select(meters.c.meter_id, parties.c.email)
        .join(contracts, contracts.c.metering_point_id == meters.c.metering_point_id)
        .join(parties, parties.c.id == contracts.c.party_id)
        .where(
            meters.c.meter_id.in_(list(meter_ids)),
            contracts.c.valid_from <= on,
            or_(contracts.c.valid_to.is_(None), contracts.c.valid_to > on),
        )
    )
    return {row.meter_id: row.email for row in rows}


def fleet_toml(
    meters_: tuple[DemoMeter, ...] = DEMO_METERS,
    output: str = "tcp://127.0.0.1:0",
    port: str = "closed",
) -> str:
    """The demo meters as a fleet file for `hanport emulate --fleet` (hanport.emulator.fleet).

    Each meter keeps its brand, phases, wiring and solar, with its serial as the emulator's seed,
    so a meter plays the same part whichever subset of the seed is written.
    """
    lines = ["# Demo grid area for `hanport emulate --fleet`; written by `hanport portal`.", ""]
    for meter in meters_:
        lines += [
            "[[meter]]",
            f'brand = "{meter.brand}"',
            f"phases = {meter.phases}",
            f"three_wire = {'true' if meter.three_wire else 'false'}",
            f"prosumer = {'true' if meter.prosumer else 'false'}",
            f"seed = {meter.serial}",
            f'meter_id = "{meter.meter_id}"',
            f'metering_point_id = "{meter.metering_point_id}"',
            # The initial state only: a meter the emulator has run before keeps the port state
            # saved in its --state-dir.
            f'port = "{port}"',
            f'output = "{output}"',
            "",
        ]
    return "\n".join(lines)


def write_fleet_toml(
    path: Path, meters_: tuple[DemoMeter, ...] = DEMO_METERS, output: str = "tcp://127.0.0.1:0"
) -> Path:
    path.write_text(fleet_toml(meters_, output), encoding="utf-8")
    return path
