"""Page texts in bokmål and English: key -> (nb, en)."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["LANGS", "TEXTS", "translator"]

LANGS = ("nb", "en")

TEXTS: dict[str, tuple[str, str]] = {
    "app_title": ("HAN-porten", "The HAN port"),
    "my_points": ("Mine målepunkter", "My metering points"),
    "sign_in": ("Logg inn", "Sign in"),
    "sign_out": ("Logg ut", "Sign out"),
    "email": ("E-postadresse", "E-mail address"),
    "send_code": ("Send meg en engangskode", "Send me a one-time code"),
    "code": ("Engangskode (6 siffer)", "One-time code (6 digits)"),
    "code_sent": (
        "Hvis adressen er registrert hos oss, har vi sendt en kode til den.",
        "If the address is registered with us, we have sent a code to it.",
    ),
    "signin_intro": (
        "Logg inn for å åpne eller stenge HAN-porten på måleren din. I denne versjonen får du en "
        "engangskode på e-post; innlogging med ID-porten/BankID kommer.",
        "Sign in to open or close the HAN port on your meter. In this version you get a one-time "
        "code by e-mail; sign-in with ID-porten/BankID is coming.",
    ),
    "metering_point": ("Målepunkt", "Metering point"),
    "address": ("Adresse", "Address"),
    "meter": ("Måler", "Meter"),
    "port": ("HAN-port", "HAN port"),
    "port_open": ("Åpen", "Open"),
    "port_closed": ("Stengt", "Closed"),
    "port_opening": ("Åpnes", "Opening"),
    "port_closing": ("Stenges", "Closing"),
    "port_unknown": ("Ukjent", "Unknown"),
    "verified_at": ("bekreftet ved tilbakelesing fra måleren", "verified by read-back"),
    "not_verified": ("ikke lest tilbake fra måleren", "not read back from the meter"),
    "push_seen": ("data sett fra måleren (push)", "data seen from the meter (push)"),
    "push_not_seen_yet": (
        "ingen data sett fra måleren ennå",
        "no data seen from the meter yet",
    ),
    "role_holder": ("Kontraktseier", "Contract holder"),
    "role_proxy-view": ("Fullmakt: innsyn", "Proxy: view"),
    "role_proxy-act": ("Fullmakt: bestille", "Proxy: act"),
    "no_points": (
        "Du har ingen målepunkter eller fullmakter ennå.",
        "You have no metering points or proxies yet.",
    ),
    "order_open": ("Bestill åpning av HAN-porten", "Order the HAN port opened"),
    "close_now": ("Steng HAN-porten nå", "Close the HAN port now"),
    "terms": ("Vilkår", "Terms"),
    "accept_terms": (
        "Jeg har lest og godtar vilkårene (versjon {v})",
        "I have read and accept the terms (version {v})",
    ),
    "terms_changed": (
        "Vilkårene er endret siden sist du bestilte. Les dem på nytt.",
        "The terms have changed since your last order. Please read them again.",
    ),
    "terms_what_changed": ("Dette er endret:", "What has changed:"),
    "terms_version_n": ("Versjon {v}", "Version {v}"),
    "terms_accepted_record": (
        "Vilkår versjon {v} (SHA-256 {h}…) godtatt {at} av {who}, vist på {shown}",
        "Terms version {v} (SHA-256 {h}…) accepted {at} by {who}, shown in {shown}",
    ),
    "terms_shown_nb": ("bokmål", "Norwegian"),
    "terms_shown_en": ("engelsk", "English"),
    "terms_shown_unknown": ("ukjent språk", "an unrecorded language"),
    "terms_status_current": ("gjeldende", "current"),
    "terms_status_scheduled": ("planlagt", "scheduled"),
    "terms_status_superseded": ("erstattet", "superseded"),
    "declaration": ("Hvor står måleren?", "Where is the meter?"),
    "decl_inside_home": ("Inne i boligen", "Inside the home"),
    "decl_locked_cabinet": ("I et låsbart skap", "In a lockable cabinet"),
    "decl_locked_room": ("I et låsbart rom", "In a lockable room"),
    "decl_shared_locked_room": ("I et låst felles målerrom", "In a locked shared meter room"),
    "module": ("HAN-modul", "HAN module"),
    "module_have": ("Jeg har allerede HAN-modul", "I already have a HAN module"),
    "module_post": ("Send modulen i posten", "Send the module by post"),
    "module_pickup": ("Jeg henter modulen", "I will pick up the module"),
    "module_note": (
        "Modulen er gratis. Porten åpnes med en gang, uansett når modulen kommer.",
        "The module is free. The port opens right away, whenever the module arrives.",
    ),
    "ship_requested": ("bestilt", "ordered"),
    "ship_shipped": ("sendt", "shipped"),
    "ship_delivered": ("levert", "delivered"),
    "ship_picked_up": ("hentet", "picked up"),
    "tracking": ("sporing", "tracking"),
    "submit_order": ("Send bestilling", "Submit order"),
    "orders": ("Bestillinger", "Orders"),
    "order": ("Bestilling", "Order"),
    "no_orders": ("Ingen bestillinger ennå.", "No orders yet."),
    "action": ("Handling", "Action"),
    "action_open": ("Åpne", "Open"),
    "action_close": ("Stenge", "Close"),
    "state": ("Status", "Status"),
    "created": ("Bestilt", "Ordered"),
    "sla_due": ("Frist", "Deadline"),
    "timeline": ("Tidslinje", "Timeline"),
    "cancel_order": ("Avbryt bestillingen", "Cancel the order"),
    "proxies": ("Fullmakter", "Powers of attorney"),
    "invite_proxy": ("Gi fullmakt", "Give a power of attorney"),
    "agent_name": ("Navn", "Name"),
    "agent_email": ("E-post", "E-mail"),
    "scope": ("Omfang", "Scope"),
    "scope_view": ("Innsyn (se status)", "View (see status)"),
    "scope_act": ("Bestille (åpne/stenge)", "Act (open/close)"),
    "valid_to": ("Gjelder til og med", "Valid until"),
    "revoke": ("Trekk tilbake", "Revoke"),
    "revoked": ("trukket tilbake", "revoked"),
    "expired": ("utløpt", "expired"),
    "active": ("aktiv", "active"),
    "back": ("Tilbake", "Back"),
    "working": (
        "Vi jobber med saken. Siden oppdateres av seg selv.",
        "We are working on it. The page refreshes itself.",
    ),
    "st_validated": ("Mottatt og kontrollert", "Received and checked"),
    "st_command_sent": ("Kommando sendt til måleren", "Command sent to the meter"),
    "st_retrying": ("Måleren svarte ikke – prøver igjen", "The meter did not answer – retrying"),
    "st_verified": ("Bekreftet fra måleren", "Verified from the meter"),
    "st_completed": ("Fullført", "Completed"),
    "st_escalated": ("Hos kundeservice", "With customer service"),
    "st_needs_field_work": ("Krever målerbytte", "Needs a meter swap"),
    "st_failed": ("Ikke fullført", "Not completed"),
    "st_cancelled": ("Avbrutt", "Cancelled"),
    "st_superseded": ("Erstattet av ny bestilling", "Replaced by a newer order"),
    "ev_submitted": ("Bestilling mottatt", "Order received"),
    "ev_command_ok": ("Måleren tok imot kommandoen", "The meter accepted the command"),
    "ev_no_answer": ("Måleren svarte ikke", "The meter did not answer"),
    "ev_readback_ok": ("Tilstand lest tilbake fra måleren", "State read back from the meter"),
    "ev_readback_mismatch": (
        "Måleren viste feil tilstand – sender på nytt",
        "The meter showed the wrong state – sending again",
    ),
    "ev_readback_no_answer": (
        "Måleren svarte ikke på kontroll",
        "The meter did not answer the check",
    ),
    "ev_confirm": ("Ferdig – du har fått e-post", "Done – you have been e-mailed"),
    "ev_confirm_without_push": (
        "Ferdig – porten er bekreftet åpen ved tilbakelesing, men vi har ikke sett data fra "
        "måleren ennå. Du har fått e-post.",
        "Done – the read-back confirmed the port open, but we have not seen data from the "
        "meter yet. You have been e-mailed.",
    ),
    "ev_give_up": ("Overlevert til kundeservice", "Handed to customer service"),
    "ev_field_work": ("Måleren må byttes", "The meter must be replaced"),
    "ev_cancel": ("Avbrutt", "Cancelled"),
    "ev_supersede": ("Erstattet", "Replaced"),
    "ev_override_retry": ("Kundeservice prøver igjen", "Customer service retries"),
    "ev_override_complete": ("Fullført av kundeservice", "Completed by customer service"),
    "ev_override_fail": ("Avsluttet av kundeservice", "Closed by customer service"),
    "push_confirmed": (
        "Porten er åpen, og vi har sett at måleren sender data.",
        "The port is open, and we have seen the meter send data.",
    ),
    "push_not_seen": (
        "Porten er åpen ifølge måleren, men vi har ikke sett data ennå. Kontakt oss hvis "
        "leseren din ikke får data.",
        "The meter reports the port open, but we have not seen data yet. Contact us if your "
        "reader gets no data.",
    ),
    "backoffice": ("Kundeservice", "Customer service"),
    "queue": ("Kø", "Queue"),
    "sla": ("SLA", "SLA"),
    "search": ("Søk", "Search"),
    "moves": ("Flytting", "Moves"),
    "api_tokens": ("API-nøkler", "API keys"),
    "error": ("Noe gikk galt", "Something went wrong"),
    "not_signed_in": ("Du må logge inn først.", "Please sign in first."),
}


def translator(lang: str) -> Callable[..., str]:
    index = 0 if lang == "nb" else 1

    def t(key: str, **fields: object) -> str:
        pair = TEXTS.get(key)
        text = key if pair is None else pair[index]
        return text.format(**fields) if fields else text

    return t
