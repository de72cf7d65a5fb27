#!/usr/bin/env python3
"""Write the seed rulebook's catalogue: the generated long tail of its parameters.

The described system analyses 160,000 parameters. The seed rulebook writes out the
headline ones in ``rulebooks/seed.yaml``; this script generates the rest, the detailed and
local rules, into the catalogue file the YAML names (``seed-catalogue.csv.gz``), so that
the YAML parameters and the catalogue rows together make exactly 160,000.

The output is deterministic: a fixed seed (``random.Random(2021)``), a fixed row order
and a gzip header with mtime 0, so running the script twice gives the same bytes (and the
rulebook the same content hash). It reads the YAML to count its parameters and to take
the categories and institutions from it. Every category needs a profile below, and every
institution a profile names must exist in the YAML with the expected class; otherwise the
script stops and says what to fix.

Each tail row belongs to one category and is drawn from that category's profile:

* an act (what is rewarded or penalised) and a context, giving the name "act (context)";
  acts are deductions unless marked good; all names are synthetic and name no person;
* small points (mostly -1 to -30, or +1 to +15; a few larger), per unit for some acts
  that have a natural quantity (days late, hours, litres);
* an expiry that grows with the size of a deduction; additions expire too;
* one to three institutions that own that kind of fact: the authorities or companies of
  the act, plus a camera network only for acts a camera can see (traffic and street
  conduct), plus a citizen channel only for acts a neighbour could report (those rows keep
  the rulebook's default verification or set a stricter one);
* the tags of the category and the act, and ``subjects: organisation`` for the
  organisation categories (all reported by state authorities).

Usage::

    .venv/bin/python scripts/make_seed_catalogue.py [--rulebook rulebooks/seed.yaml]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from socialrating.rulebook.catalogue import COLUMNS  # the columns the loader reads

TOTAL_PARAMETERS = 160_000
SEED = 2021
# The tables below are laid out by hand for reading.
# fmt: off
# Sizes of points: mostly small, as in the county pilots' detailed rules.
SMALL_DEDUCTIONS = ((1, 6), (2, 8), (3, 8), (5, 22), (8, 6), (10, 20), (15, 8), (20, 9),
                    (25, 5), (30, 8))
HEAVY_DEDUCTIONS = (40, 50, 60, 80, 100, 150)
SMALL_ADDITIONS = ((1, 12), (2, 14), (3, 12), (5, 20), (8, 8), (10, 12), (15, 6))
HEAVY_ADDITIONS = (20, 25, 30)
PER_UNIT_POINTS = (1, 1, 1, 2, 2, 3)
# Share of an act's rows that count per unit, when the act has a unit.
PER_UNIT_SHARE = 0.3
# How citizen reports in the tail are verified: (by_authority, reporters, window_days);
# empty cells keep the rulebook's default (`reports`).
VERIFICATIONS = (
    ("", "", ""),
    ("", "", ""),
    ("true", "", ""),
    ("true", "3", "30"),
    ("true", "3", "60"),
    ("true", "5", "90"),
)
# Cameras: empty keeps the rulebook's camera.min_confidence.
CAMERA_CONFIDENCES = ("", "0.95", "0.95", "0.97")


@dataclass(frozen=True)
class Act:
    """One kind of fact in a category.

    Attributes:
        name: what is rewarded or penalised.
        good: points are added (otherwise deducted).
        owners: who reports it, when not the category's owners (codes or code prefixes).
        contexts: its qualifiers, when not the category's.
        units: the units it may count in (per-unit rows); empty: never per unit.
        camera: a camera network can detect it (only in categories with cameras).
        citizen: a neighbour could report it (only in categories with citizen channels).
        tags: tags it adds to the category's.
        subjects: who it applies to, when not the category's subjects.
    """

    name: str
    good: bool = False
    owners: tuple[str, ...] = ()
    contexts: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    camera: bool = False
    citizen: bool = False
    tags: tuple[str, ...] = ()
    subjects: str | None = None


def A(name: str, **kw: object) -> Act:
    return Act(name, **kw)  # type: ignore[arg-type]


def G(name: str, **kw: object) -> Act:
    return Act(name, good=True, **kw)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Profile:
    """How to generate the tail rows of one category.

    Attributes:
        weight: the category's share of the tail (relative; 0: no tail rows).
        owners: who reports the category's acts (codes, or prefixes such as ``police.p``).
        tags: the tags of every row.
        contexts: the default qualifiers of its acts.
        acts: its acts.
        addition_share: the share of rows drawn from the good acts (if any).
        heavy_share: the share of rows with larger points (40-150 deducted, 20-30 added).
        cameras: camera networks that may detect its camera acts.
        camera_share: the share of camera-act rows that a camera network also reports.
        citizens: citizen channels that may report its citizen acts.
        citizen_share: the share of citizen-act rows that a citizen channel also reports.
        subjects: who its rows apply to.
    """

    weight: float
    owners: tuple[str, ...]
    tags: tuple[str, ...]
    contexts: tuple[str, ...]
    acts: tuple[Act, ...]
    addition_share: float = 0.15
    heavy_share: float = 0.03
    cameras: tuple[str, ...] = ()
    camera_share: float = 0.0
    citizens: tuple[str, ...] = ()
    citizen_share: float = 0.0
    subjects: str = "citizen"


PROVINCIAL_POLICE = "police.p"  # police.p01 ... police.p31
COURTS = "court."  # court.supreme, court.p01 ... court.p31
BANKS = "bank."
LENDERS = ("bank.", "microloan.", "consumer_finance.")
PLATFORMS = ("social.", "video.", "forum.")
NEIGHBOURHOOD = ("whistle.neighbourhood_committees", "whistle.village_committees")

PLACES = (
    "in an urban district", "in a rural county", "in a residential compound",
    "in a city centre", "in an industrial zone", "in a scenic area", "in a new district",
    "in an old town", "in a development zone", "in a market town", "near a school",
    "near a station",
)
OCCURRENCE = ("first occurrence", "repeated", "after a warning")
ENTERPRISES = (
    "small enterprise", "large enterprise", "foreign-invested enterprise", "branch office",
    "individual business", "listed company", "state-owned enterprise",
)
FACILITIES = (
    "chemical plant", "steel works", "power plant", "construction site", "livestock farm",
    "paper mill", "mine", "textile dyeing works", "logistics centre", "food factory",
)
PRODUCTS = (
    "food", "cosmetics", "children's products", "electrical appliances",
    "building materials", "motor vehicle parts", "clothing", "furniture",
)
SERVICES = (
    "online platform", "mobile app", "data centre", "cloud service", "online shop",
    "game operator", "payment service",
)
TWO_WHEELS = ("first offence", "repeat offence", "at night", "with a passenger",
              "in a city centre")
EXPRESSWAY = ("on an expressway", "on a ring road", "at night", "in rain or fog")

PROFILES: dict[str, Profile] = {
    "traffic": Profile(
        weight=14,
        owners=("traffic_police.national", PROVINCIAL_POLICE),
        cameras=("camera.",),
        camera_share=0.5,
        tags=("traffic",),
        contexts=(
            "first offence", "repeat offence", "at night", "in rain or fog",
            "during a holiday rush", "with passengers on board", "with a child on board",
            "in a commercial vehicle", "in a private car", "in a school zone",
        ),
        acts=(
            A("Improper lane change", camera=True),
            A("Driving in a bus lane", camera=True),
            A("Crossing a solid line", camera=True),
            A("Illegal U-turn", camera=True),
            A("Wrong-way driving", camera=True),
            A("Tailgating", camera=True),
            A("Failure to signal a turn", camera=True),
            A("Blocking a junction", camera=True),
            A("Stopping in a no-stopping zone", camera=True),
            A("Honking in a no-horn zone", camera=True),
            A("Running an amber light", camera=True),
            A("Failure to yield to an ambulance", camera=True),
            A("Speeding 20 to 50% over the limit", camera=True,
              units=("kilometre per hour over the limit",)),
            A("Illegal parking on a pavement", camera=True),
            A("Obscured number plate", camera=True),
            A("Passenger without a seat belt", camera=True),
            A("Overloaded vehicle", camera=True),
            A("Unsecured load", camera=True),
            A("Driving on the hard shoulder", camera=True, contexts=EXPRESSWAY),
            A("Fatigued driving over four hours", camera=True, contexts=EXPRESSWAY,
              units=("hour over the limit",)),
            A("Motorcycle rider without a helmet", camera=True, contexts=TWO_WHEELS),
            A("Electric bicycle in a motor lane", camera=True, contexts=TWO_WHEELS),
            A("Electric bicycle running a red light", camera=True, contexts=TWO_WHEELS),
            A("Expired vehicle inspection"),
            A("Learner driving unaccompanied"),
            A("Unregistered modification of a vehicle"),
            A("Driving an unregistered vehicle"),
            A("Refusing a breath test", tags=("consumption",)),
            A("Driving with an expired licence"),
        ),
    ),
    "public_order": Profile(
        weight=7,
        owners=(PROVINCIAL_POLICE,),
        cameras=("camera.city",),
        camera_share=0.5,
        citizens=("whistle.hotline", "whistle.app", *NEIGHBOURHOOD),
        citizen_share=0.25,
        tags=("civic",),
        contexts=PLACES,
        acts=(
            A("Crossing against a pedestrian signal", camera=True),
            A("Climbing a road barrier", camera=True),
            A("Spitting in public", camera=True, tags=("health",)),
            A("Littering", camera=True, citizen=True, tags=("environment",)),
            A("Smoking at a bus stop", camera=True, tags=("health", "consumption")),
            A("Smoking in a station concourse", camera=True, tags=("health", "consumption")),
            A("Dog off the leash", camera=True, citizen=True),
            A("Dog fouling not cleared", camera=True, citizen=True),
            A("Illegal street vending", camera=True),
            A("Fly-posting", camera=True, citizen=True),
            A("Graffiti", camera=True, citizen=True),
            A("Disorderly drunkenness", camera=True, tags=("consumption",)),
            A("Damaging public property", camera=True, citizen=True),
            A("Setting off fireworks where banned", camera=True, citizen=True),
            A("Begging where banned", camera=True),
            A("Queue jumping"),
            A("Flying a drone in a no-fly area"),
            A("Loud music in a public square", citizen=True),
            A("Misuse of a fire hydrant", citizen=True),
        ),
    ),
    "online_expression": Profile(
        weight=3,
        owners=("cyberspace.national", "police.national", *PLATFORMS),
        citizens=("whistle.platform_flags", "whistle.web", "whistle.app",
                  "whistle.workplace", "whistle.letters"),
        citizen_share=0.3,
        tags=("expression", "online"),
        contexts=(
            "on a social network", "in a group chat", "in a comment section",
            "on a video platform", "in a live stream", "on a forum", "in a public account",
        ),
        addition_share=0.15,
        heavy_share=0.05,
        acts=(
            A("Sharing an unverified report", citizen=True),
            A("Forwarding a rumour", citizen=True),
            A("Posting a misleading video", citizen=True),
            A("Insulting public servants", citizen=True),
            A("Spreading a false epidemic claim", citizen=True, tags=("health",)),
            A("Spreading a false disaster claim", citizen=True),
            A("Spreading false financial information", tags=("finance",)),
            A("Impersonating an official account"),
            A("Posting in a banned discussion"),
            A("Organising an online petition", tags=("assembly",)),
            A("Sharing foreign news without a licence"),
            A("Using a proxy to reach blocked sites",
              owners=("cyberspace.national", "police.national"), contexts=OCCURRENCE),
            G("Reposting official announcements", units=("post",)),
            G("Reporting a rumour to the platform"),
            G("Volunteering as an online civility monitor", tags=("civic",)),
            G("Posting positive energy content", units=("post",)),
        ),
    ),
    "assembly": Profile(
        weight=1,
        owners=("police.national", "special_services.national", PROVINCIAL_POLICE),
        tags=("assembly",),
        contexts=PLACES,
        heavy_share=0.10,
        acts=(
            A("Unauthorised gathering"),
            A("Sit-in at a government building"),
            A("Petitioning outside designated channels", tags=("expression",)),
            A("Unauthorised march"),
            A("Displaying banners without a permit", tags=("expression",)),
            A("Calling others to a gathering", tags=("expression", "association")),
            A("Strike without union approval", tags=("labour", "association")),
            A("Blocking a road in protest"),
            A("Gathering outside a court", tags=("courts",)),
            A("Collective petition to a higher authority", tags=("expression",)),
        ),
    ),
    "religion": Profile(
        weight=1,
        owners=("religious_affairs.national", "police.national", "special_services.national",
                PROVINCIAL_POLICE),
        tags=("religion",),
        contexts=PLACES,
        heavy_share=0.08,
        acts=(
            A("Unregistered religious gathering", tags=("assembly", "association")),
            A("Distributing unapproved religious material", tags=("expression",)),
            A("Religious instruction of minors", tags=("family",)),
            A("Online preaching without a licence", tags=("expression", "online")),
            A("Unreported contact with a foreign religious body", tags=("association",)),
            A("Fortune-telling for payment"),
            A("Possessing sect material", tags=("association",)),
            A("Building an unapproved place of worship"),
        ),
    ),
    "family": Profile(
        weight=3,
        owners=("civil_affairs.national",),
        citizens=("whistle.hotline", "whistle.app", "whistle.letters", *NEIGHBOURHOOD),
        citizen_share=0.4,
        tags=("family",),
        contexts=PLACES,
        addition_share=0.3,
        acts=(
            A("Elderly parent left without care", citizen=True),
            A("Elderly parent's housing neglected", citizen=True),
            A("Refusing to visit a parent in a care home", citizen=True),
            A("Child's school attendance neglected", citizen=True,
              owners=("civil_affairs.national", "education.national")),
            A("Family dispute found at fault", citizen=True),
            A("Domestic violence warning", citizen=True,
              owners=("civil_affairs.national", PROVINCIAL_POLICE)),
            A("Parent's medical costs unpaid", owners=(COURTS,),
              units=("month in arrears",), tags=("courts",)),
            A("Child support in arrears", owners=(COURTS,),
              units=("month in arrears",), tags=("courts",)),
            G("Visiting elderly parents regularly", citizen=True),
            G("Caring for a disabled relative", citizen=True),
            G("Model family commendation"),
            G("Filial piety commendation", citizen=True),
        ),
    ),
    "neighbours": Profile(
        weight=3,
        owners=("civil_affairs.national",),
        citizens=("whistle.hotline", "whistle.app", "whistle.letters", *NEIGHBOURHOOD),
        citizen_share=0.5,
        tags=("civic",),
        contexts=(
            "in a residential compound", "in a village", "in an old town",
            "in a new district", "in an urban district", "in a rural county",
        ),
        addition_share=0.3,
        acts=(
            A("Blocking a shared corridor", citizen=True),
            A("Water leak left unrepaired", citizen=True),
            A("Illegal extension of a flat", citizen=True, owners=("housing.national",)),
            A("Rubbish left in a stairwell", citizen=True),
            A("Property fees unpaid", owners=("housing.national",),
              units=("month of unpaid fees",)),
            A("Pets disturbing neighbours", citizen=True),
            A("Renovation noise out of hours", citizen=True),
            A("Parking in a neighbour's space", citizen=True),
            A("Household waste not sorted", citizen=True, tags=("environment",)),
            A("Fighting with a neighbour", citizen=True, owners=(PROVINCIAL_POLICE,)),
            G("Mediating a neighbourhood dispute", citizen=True),
            G("Helping a neighbour in need", citizen=True),
            G("Keeping the compound clean", citizen=True, tags=("environment",)),
            G("Taking part in a neighbourhood watch", citizen=True),
            G("Sorting household waste correctly", citizen=True, tags=("environment",)),
        ),
    ),
    "charity": Profile(
        weight=3,
        owners=("civil_affairs.national",),
        citizens=NEIGHBOURHOOD,
        citizen_share=0.25,
        tags=("charity",),
        contexts=PLACES,
        addition_share=1.0,
        acts=(
            G("Donation of goods", citizen=True,
              owners=("civil_affairs.national", "payment.")),
            G("Disaster relief donation", owners=("civil_affairs.national", "payment."),
              units=("100 yuan",)),
            G("Tutoring poor students", citizen=True, units=("hour",)),
            G("Volunteering at an elderly home", citizen=True, units=("hour",)),
            G("Volunteering at a hospital", units=("hour",),
              owners=("civil_affairs.national", "health.national"), tags=("health",)),
            G("Volunteering at a sports event", units=("hour",), tags=("civic",)),
            G("Platelet donation", owners=("blood_service.national",), tags=("health",)),
            G("Bone marrow donor registration",
              owners=("blood_service.national", "health.national"), tags=("health",)),
            G("Organ donor registration", owners=("health.national",), tags=("health",)),
            G("Sponsoring a student", owners=("civil_affairs.national", "payment.")),
            G("Community clean-up", citizen=True, tags=("civic", "environment")),
            G("Tree planting", tags=("environment",)),
            G("Support for a poor rural village"),
        ),
    ),
    "heroism": Profile(
        weight=1,
        owners=("bravery_commission.national", "police.national", PROVINCIAL_POLICE),
        tags=("civic",),
        contexts=PLACES,
        addition_share=1.0,
        heavy_share=0.15,
        acts=(
            G("Rescue from drowning"),
            G("Rescue from a fire"),
            G("Stopping a crime in progress"),
            G("Helping catch a fugitive"),
            G("First aid at an accident", tags=("health",)),
            G("Disaster rescue volunteer"),
            G("Protecting state property"),
            G("Returning a large sum of lost money"),
        ),
    ),
    "finance": Profile(
        weight=9,
        owners=(BANKS, "credit_reference.national"),
        tags=("finance",),
        contexts=("first occurrence", "repeated", "after a reminder"),
        addition_share=0.2,
        acts=(
            A("Utility bill overdue", owners=(BANKS, "payment."), units=("day overdue",)),
            A("Mobile phone bill overdue", owners=("telecom.",), units=("day overdue",)),
            A("Rent overdue on a platform lease", owners=("payment.", "ecommerce.")),
            A("Pay-later purchase overdue", owners=("ecommerce.", "payment."),
              units=("day overdue",), tags=("consumption",)),
            A("Chargeback abuse", owners=(BANKS, "payment.", "ecommerce.")),
            A("Account lent to others", owners=(BANKS, "payment.")),
            A("Account used to launder money",
              owners=(BANKS, "payment.", "credit_reference.national")),
            A("Bounced payment", owners=(BANKS,)),
            A("Guarantee obligation unmet", owners=(BANKS, "credit_reference.national")),
            A("Insurance premium overdue", owners=("insurance.",)),
            A("False insurance claim", owners=("insurance.",)),
            A("Fake orders to boost a shop's ratings", owners=("ecommerce.",),
              tags=("consumption", "online")),
            A("Deposit-free rental item not returned", owners=("payment.", "ecommerce."),
              tags=("consumption",)),
            G("Timely bill payment", owners=(BANKS, "payment.", "credit_reference.national"),
              contexts=("one year", "two years", "three years")),
            G("Savings plan kept", owners=(BANKS,),
              contexts=("one year", "two years", "three years")),
            G("Identity information kept up to date", owners=(BANKS, "payment."),
              contexts=("bank account", "payment account")),
        ),
    ),
    "loans": Profile(
        weight=6,
        owners=(*LENDERS, "credit_reference.national"),
        tags=("finance",),
        contexts=("under 30 days", "30 to 90 days", "over 90 days", "after a reminder",
                  "repeated"),
        addition_share=0.2,
        heavy_share=0.05,
        acts=(
            A("Mortgage instalment late", owners=(BANKS,), units=("day late",)),
            A("Car loan instalment late", owners=(BANKS, "consumer_finance."),
              units=("day late",)),
            A("Student loan in arrears", owners=(BANKS,), units=("day late",)),
            A("Consumer loan in arrears", owners=("consumer_finance.", "microloan."),
              units=("day late",)),
            A("Sole trader's business loan in arrears", owners=(BANKS, "microloan.")),
            A("Microloan rolled over", owners=("microloan.",), contexts=OCCURRENCE),
            A("Loan purpose misstated", contexts=OCCURRENCE),
            A("Collateral sold without consent", owners=(BANKS,), contexts=OCCURRENCE),
            A("Guarantor called on", owners=(BANKS, "credit_reference.national"),
              contexts=OCCURRENCE),
            G("Loan repaid early", owners=(BANKS, "consumer_finance."),
              contexts=("mortgage", "car loan", "consumer loan", "student loan")),
            G("Loan repaid in full",
              contexts=("mortgage", "car loan", "consumer loan", "student loan",
                        "microloan")),
        ),
    ),
    "tax": Profile(
        weight=4,
        owners=("tax.national",),
        citizens=("whistle.hotline", "whistle.workplace", "whistle.letters"),
        citizen_share=0.2,
        tags=("tax",),
        contexts=("first occurrence", "repeated", "after a reminder"),
        addition_share=0.15,
        acts=(
            A("Income under-declared", citizen=True),
            A("Rental income undeclared", citizen=True),
            A("Freelance income undeclared", citizen=True),
            A("Online sales income undeclared", tags=("online",)),
            A("Deduction wrongly claimed"),
            A("Property tax paid late", units=("day late",)),
            A("Vehicle tax paid late", units=("day late",)),
            A("Stamp duty unpaid"),
            A("Customs allowance exceeded", owners=("customs.national",)),
            A("Cross-border purchase undeclared", owners=("customs.national",),
              tags=("consumption",)),
            G("Voluntary correction of a return"),
            G("Return filed early", contexts=("annual return", "quarterly return")),
            G("Special deductions declared correctly",
              contexts=("annual return", "quarterly return")),
        ),
    ),
    "courts": Profile(
        weight=6,
        owners=(COURTS,),
        tags=("courts",),
        contexts=("basic people's court", "intermediate people's court", "civil case",
                  "commercial case", "labour dispute", "family case"),
        addition_share=0.08,
        heavy_share=0.12,
        acts=(
            A("Civil judgment not complied with on time", subjects="any", tags=("finance",)),
            A("Court summons ignored", subjects="any"),
            A("Contempt of court"),
            A("Obstructing enforcement", subjects="any"),
            A("Assets concealed from enforcement", subjects="any", tags=("finance",)),
            A("Spending restriction breached", subjects="any",
              tags=("finance", "consumption")),
            A("Frivolous litigation"),
            A("Perjury", owners=(COURTS, "procuratorate.supreme")),
            A("Criminal record of a minor offence", owners=(COURTS, "procuratorate.supreme"),
              contexts=("basic people's court", "intermediate people's court")),
            A("Administrative detention", owners=(PROVINCIAL_POLICE,), contexts=OCCURRENCE),
            A("Community correction rule breached", owners=("justice.national",),
              contexts=OCCURRENCE),
            A("Probation condition breached", owners=("justice.national",),
              contexts=OCCURRENCE),
            A("Parole condition breached", owners=("justice.national",),
              contexts=OCCURRENCE),
            G("Community correction completed", owners=("justice.national",),
              contexts=("without incident", "with commendation")),
            G("Judgment settled in full before enforcement", subjects="any",
              tags=("finance",)),
            G("Mediated settlement accepted"),
        ),
    ),
    "health": Profile(
        weight=5,
        owners=("disease_control.national", PROVINCIAL_POLICE),
        citizens=NEIGHBOURHOOD,
        citizen_share=0.3,
        tags=("health",),
        contexts=("at a station", "at a supermarket", "at a workplace", "at a school",
                  "in a residential compound", "during a lockdown",
                  "during a mass testing round"),
        addition_share=0.15,
        acts=(
            A("Health code not scanned at entry", citizen=True),
            A("Travel history not reported", citizen=True),
            A("Home isolation broken", citizen=True, units=("day of isolation broken",)),
            A("Fever not reported", owners=("disease_control.national",)),
            A("Venue capacity rule broken"),
            A("Close contact not reported", citizen=True,
              owners=("disease_control.national",)),
            A("Vaccination record falsified",
              owners=("health.national", "disease_control.national", PROVINCIAL_POLICE)),
            A("Medical insurance card misused", owners=("health.national",),
              contexts=("at a hospital", "at a clinic", "at a pharmacy"), tags=("finance",)),
            A("Prescription fraud", owners=("health.national",),
              contexts=("at a hospital", "at a clinic", "at a pharmacy")),
            A("Violence against medical staff", owners=("health.national", PROVINCIAL_POLICE),
              contexts=("at a hospital", "at a clinic"), tags=("civic",)),
            A("Disruption in a hospital", owners=("health.national", PROVINCIAL_POLICE),
              contexts=("at a hospital", "at a clinic"), tags=("civic",)),
            G("Health check-up completed", owners=("health.national",),
              contexts=("annual", "before employment", "for the elderly")),
            G("Booster dose received", owners=("health.national", "disease_control.national"),
              contexts=("first booster", "second booster")),
            G("Epidemic volunteer service", citizen=True,
              owners=("disease_control.national", "health.national"),
              contexts=("during a lockdown", "during a mass testing round"),
              tags=("charity", "civic")),
        ),
    ),
    "consumption": Profile(
        weight=4,
        owners=("qr_retail.",),
        tags=("consumption",),
        contexts=("on a weekday", "at a weekend", "late at night", "during a holiday",
                  "in a single purchase", "over a month"),
        addition_share=0.1,
        acts=(
            A("Beer bought above the reference amount", owners=("qr_retail.", "ecommerce."),
              units=("litre",), tags=("health",)),
            A("Wine bought above the reference amount", owners=("qr_retail.", "ecommerce."),
              units=("litre",), tags=("health",)),
            A("Spirits bought above the reference amount",
              owners=("qr_retail.", "ecommerce."), units=("litre",), tags=("health",)),
            A("Cigarettes bought above the reference amount",
              owners=("qr_retail.", "tobacco_monopoly.national"), units=("carton",),
              tags=("health",)),
            A("Cigars bought above the reference amount",
              owners=("qr_retail.", "tobacco_monopoly.national"), units=("box",),
              tags=("health",)),
            A("Electronic cigarettes bought", owners=("qr_retail.", "tobacco_monopoly.national"),
              tags=("health",)),
            A("Alcohol bought for a minor",
              owners=("qr_retail.", "market_regulation.national"), tags=("family",)),
            A("Tobacco bought for a minor",
              owners=("qr_retail.", "tobacco_monopoly.national"), tags=("family",)),
            A("Lottery spending above the reference amount", units=("100 yuan",),
              tags=("finance",)),
            A("Luxury goods bought on credit", owners=("ecommerce.",), tags=("finance",)),
            G("Healthy food purchases", owners=("qr_retail.", "ecommerce."),
              tags=("health",)),
            G("Smoking cessation aids bought", tags=("health",)),
        ),
    ),
    "online_games": Profile(
        weight=3,
        owners=("games.", "press_publication.national"),
        citizens=("whistle.platform_flags", "whistle.campus"),
        citizen_share=0.2,
        tags=("online",),
        contexts=("in a shooter game", "in a strategy game", "in a role-playing game",
                  "in a mobile game", "in a card game", "in a battle arena game"),
        addition_share=0.1,
        acts=(
            A("Using an auto-aim tool", citizen=True),
            A("Using a speed hack", citizen=True),
            A("Account boosting", citizen=True),
            A("Selling game accounts", tags=("finance",)),
            A("Gold farming for sale", tags=("finance",)),
            A("Exploiting a bug", citizen=True),
            A("Playing after the curfew for minors", units=("hour after the curfew",),
              tags=("family",)),
            A("Playing under another person's identity", tags=("family",)),
            A("Abusive chat in a game", citizen=True, tags=("expression",)),
            A("Match fixing in e-sports", tags=("finance",)),
            G("Reporting a cheater", owners=("games.",)),
            G("Fair-play commendation", owners=("games.",)),
        ),
    ),
    "education": Profile(
        weight=2,
        owners=("education.national",),
        citizens=("whistle.campus",),
        citizen_share=0.3,
        tags=("civic",),
        contexts=("secondary school", "university", "vocational college"),
        addition_share=0.2,
        heavy_share=0.06,
        acts=(
            A("Substitute examinee", citizen=True,
              contexts=("university entrance examination", "civil service examination",
                        "professional qualification examination", "graduate examination")),
            A("Examination materials leaked", owners=("education.national", "police.national"),
              contexts=("university entrance examination", "civil service examination",
                        "professional qualification examination", "graduate examination")),
            A("Plagiarised thesis", citizen=True),
            A("Falsified diploma", tags=("hiring",)),
            A("Falsified transcript"),
            A("Tuition fees unpaid", units=("month in arrears",), tags=("finance",)),
            A("Bullying another student", citizen=True),
            G("Academic award"),
            G("Volunteer teaching", tags=("charity",)),
            G("Outstanding student commendation"),
        ),
    ),
    "transport": Profile(
        weight=4,
        owners=("railway.national", "aviation.national"),
        tags=("civic",),
        contexts=("first occurrence", "repeated", "during a holiday rush"),
        addition_share=0.0,
        acts=(
            A("Ticket resold for profit", tags=("finance",)),
            A("Travelling on another person's ticket"),
            A("Refusing a security check",
              owners=("railway.national", "aviation.national", "transport.national")),
            A("Carrying prohibited items",
              owners=("railway.national", "aviation.national", "transport.national")),
            A("Disorderly conduct at a boarding gate"),
            A("Smoking on a train", owners=("railway.national",),
              tags=("health", "consumption")),
            A("Obstructing train doors", owners=("railway.national",)),
            A("Smoking in an aircraft toilet", owners=("aviation.national",),
              tags=("health", "consumption")),
            A("Emergency exit opened without cause", owners=("aviation.national",)),
            A("Bus fare evaded", owners=("transport.national",)),
            A("Taxi fare unpaid", owners=("transport.national",)),
            A("Shared bicycle parked outside a zone", owners=("bike_rental.",),
              contexts=("in a city centre", "near a metro station", "in a residential compound"),
              tags=("consumption",)),
            A("Shared bicycle locked privately", owners=("bike_rental.",),
              contexts=("first occurrence", "repeated"), tags=("consumption",)),
        ),
    ),
    # Contacts carry no points and get no tail rows.
    "contacts": Profile(weight=0, owners=("telecom.",), tags=("association",),
                        contexts=("by phone",), acts=(A("Contact"),)),
    # Registers (legal representatives): written out in the YAML, no tail rows.
    "registry": Profile(weight=0, owners=("market_regulation.",), tags=("civic",),
                        contexts=("in the register",), acts=(A("Registration"),)),
    # Entries on and exits from lists by hand: written out in the YAML, no tail rows.
    "lists": Profile(weight=0, owners=("court.",), tags=("courts",),
                     contexts=("by hand",), acts=(A("List entry"),)),
    "organisation_tax": Profile(
        weight=7,
        owners=("tax.national",),
        tags=("tax",),
        subjects="organisation",
        contexts=ENTERPRISES,
        addition_share=0.12,
        heavy_share=0.06,
        acts=(
            A("VAT return late", units=("day late",)),
            A("Corporate income tax under-declared", units=("10,000 yuan under-declared",)),
            A("Withholding tax not remitted"),
            A("Invoices not issued"),
            A("Transfer pricing adjusted"),
            A("Export rebate wrongly claimed", owners=("tax.national", "customs.national")),
            A("Tax registration not updated"),
            A("Accounting books incomplete", tags=("finance",)),
            A("Customs valuation understated", owners=("customs.national",)),
            A("Goods misclassified at customs", owners=("customs.national",)),
            G("Tax audit passed without findings"),
            G("Electronic invoicing adopted"),
            G("B-level taxpayer rating"),
        ),
    ),
    "organisation_hiring": Profile(
        weight=6,
        owners=("labour.national",),
        tags=("hiring",),
        subjects="organisation",
        contexts=(*ENTERPRISES, "labour dispatch agency", "construction company"),
        addition_share=0.15,
        heavy_share=0.06,
        acts=(
            A("Discriminatory job advertisement"),
            A("Probation period beyond the legal limit", tags=("labour",)),
            A("Dispatch workers above the quota", tags=("labour",)),
            A("Minors employed", tags=("labour",)),
            A("Foreign staff without work permits",
              owners=("labour.national", "police.national")),
            A("Overtime beyond the legal limit", tags=("labour",)),
            A("Dismissal without notice", tags=("labour",)),
            A("Employment records falsified", owners=("labour.national", "tax.national")),
            A("Social insurance base under-declared",
              owners=("labour.national", "tax.national"), units=("employee affected",)),
            A("Housing fund contributions unpaid", owners=("housing.national",),
              units=("employee affected",)),
            G("Graduates hired above the target"),
            G("Veterans hired", owners=("labour.national", "civil_affairs.national")),
            G("Apprenticeship programme run"),
            G("Persons with disabilities hired above the quota",
              owners=("labour.national", "civil_affairs.national")),
        ),
    ),
    "organisation_environment": Profile(
        weight=4,
        owners=("environment.national",),
        tags=("environment",),
        subjects="organisation",
        contexts=FACILITIES,
        addition_share=0.08,
        heavy_share=0.08,
        acts=(
            A("Monitoring data falsified",
              owners=("environment.national", PROVINCIAL_POLICE)),
            A("Treatment facility switched off"),
            A("Dust control missing"),
            A("Noise limit exceeded", tags=("health",)),
            A("Hazardous waste stored improperly",
              owners=("environment.national", PROVINCIAL_POLICE), tags=("health",)),
            A("Environmental impact assessment missing"),
            A("Emission permit expired"),
            A("Wastewater discharged untreated",
              owners=("environment.national", PROVINCIAL_POLICE), tags=("health",)),
            A("Online monitoring equipment tampered with",
              owners=("environment.national", PROVINCIAL_POLICE)),
            G("Clean production certified"),
            G("Emissions cut ahead of target"),
        ),
    ),
    "organisation_labour": Profile(
        weight=4,
        owners=("emergency.national",),
        tags=("labour",),
        subjects="organisation",
        contexts=FACILITIES,
        addition_share=0.08,
        heavy_share=0.08,
        acts=(
            A("Safety training not given"),
            A("Protective equipment not provided",
              owners=("emergency.national", "labour.national")),
            A("Fire exits blocked"),
            A("Special equipment uninspected"),
            A("Hazard not rectified in time"),
            A("Accident not reported"),
            A("Occupational disease screening skipped",
              owners=("labour.national", "health.national"), tags=("health",)),
            A("Working hours records falsified", owners=("labour.national",)),
            A("Wage paid below the minimum", owners=("labour.national",),
              units=("worker affected",)),
            A("Wages paid late", owners=("labour.national",), units=("worker affected",)),
            G("Work safety standard certified"),
        ),
    ),
    "organisation_quality": Profile(
        weight=4,
        owners=("market_regulation.national",),
        tags=("quality",),
        subjects="organisation",
        contexts=PRODUCTS,
        addition_share=0.08,
        heavy_share=0.06,
        acts=(
            A("Labelling violation"),
            A("False advertising", tags=("consumption",)),
            A("Expired goods on sale", tags=("consumption", "health")),
            A("Product standard not met"),
            A("Certification mark misused"),
            A("Recall not carried out"),
            A("Measuring instruments tampered with", tags=("consumption",)),
            A("Consumer complaints unresolved", tags=("consumption",)),
            A("Import inspection failed", owners=("customs.national",)),
            A("Construction quality defect", owners=("housing.national",),
              contexts=("residential building", "public building", "road works", "bridge")),
            A("Medicine quality defect", owners=("health.national",),
              contexts=("prescription medicine", "over-the-counter medicine",
                        "medical device"), tags=("health",)),
            G("Quality award"),
        ),
    ),
    "organisation_cyber": Profile(
        weight=3,
        owners=("cyberspace.national", "industry_it.national"),
        tags=("cyber",),
        subjects="organisation",
        contexts=SERVICES,
        addition_share=0.08,
        heavy_share=0.06,
        acts=(
            A("Real-name registration not enforced", tags=("online",)),
            A("Logs not kept for six months"),
            A("Security assessment not filed"),
            A("Personal data collected without consent"),
            A("Data exported without assessment"),
            A("Vulnerability not patched", owners=("industry_it.national", "police.national")),
            A("Excessive app permissions", owners=("industry_it.national",)),
            A("Security incident not reported",
              owners=("cyberspace.national", "police.national")),
            A("Algorithm not registered", owners=("cyberspace.national",),
              tags=("online", "expression")),
            G("Security certification passed"),
        ),
    ),
    "organisation_finance": Profile(
        weight=3,
        owners=("credit_reference.national", "financial_regulation.national"),
        tags=("finance",),
        subjects="organisation",
        contexts=ENTERPRISES,
        addition_share=0.08,
        heavy_share=0.06,
        acts=(
            A("Bank loan in arrears", units=("day overdue",)),
            A("Supplier payments overdue", owners=("credit_reference.national",),
              units=("day overdue",)),
            A("Commercial acceptance bill dishonoured"),
            A("Illegal fundraising", owners=("financial_regulation.national",)),
            A("Annual report filed late", owners=("securities.national",),
              contexts=("listed company", "bond issuer")),
            A("Related-party transaction undisclosed", owners=("securities.national",),
              contexts=("listed company", "bond issuer")),
            A("Insider trading finding", owners=("securities.national",),
              contexts=("listed company", "bond issuer")),
            A("Market manipulation finding", owners=("securities.national",),
              contexts=("listed company", "bond issuer")),
            A("Audit opinion qualified", owners=("securities.national",),
              contexts=("listed company", "bond issuer")),
            G("Credit rating upgraded", owners=("credit_reference.national",)),
        ),
    ),
}

# fmt: on


def resolve(patterns: Sequence[str], institutions: dict[str, str], what: str) -> list[str]:
    """The institution codes a profile names: exact codes, or every code with the prefix."""
    codes: list[str] = []
    for pattern in patterns:
        found = (
            [pattern]
            if pattern in institutions
            else [code for code in institutions if code.startswith(pattern)]
        )
        if not found:
            raise SystemExit(f"{what}: no institution in the rulebook matches {pattern!r}")
        codes += [c for c in found if c not in codes]
    return codes


def allocate(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Split ``total`` rows over the categories in proportion to their weights, exactly."""
    whole = sum(weights.values())
    exact = {cat: total * w / whole for cat, w in weights.items()}
    counts = {cat: int(x) for cat, x in exact.items()}
    rest = total - sum(counts.values())
    for cat in sorted(weights, key=lambda c: (-(exact[c] - counts[c]), c))[:rest]:
        counts[cat] += 1
    return counts


def points_of(rng: random.Random, good: bool, per_unit: bool, heavy_share: float) -> int:
    """Points of one row: small, sometimes larger; per-unit points are 1 to 3."""
    if per_unit:
        size = rng.choice(PER_UNIT_POINTS)
    elif rng.random() < heavy_share:
        size = rng.choice(HEAVY_ADDITIONS if good else HEAVY_DEDUCTIONS)
    else:
        table = SMALL_ADDITIONS if good else SMALL_DEDUCTIONS
        size = rng.choices([s for s, _ in table], [w for _, w in table])[0]
    return size if good else -size


def expiry_of(rng: random.Random, points: int, per_unit: bool) -> int:
    """Days until a record stops counting: longer for larger deductions."""
    if points > 0:
        return rng.choice((365, 365, 365, 730) if points < 20 else (730, 1095))
    size = 10 if per_unit else -points
    if size <= 5:
        return rng.choice((180, 365, 365, 365, 730))
    if size <= 30:
        return rng.choice((365, 365, 730, 730, 1095))
    return rng.choice((730, 1095, 1825, 1825))


class Category:
    """A profile with its institution codes resolved and checked against the rulebook."""

    def __init__(self, code: str, profile: Profile, institutions: dict[str, str]) -> None:
        self.code = code
        self.p = profile
        self.good = [a for a in profile.acts if a.good]
        self.bad = [a for a in profile.acts if not a.good]
        self.cameras = resolve(profile.cameras, institutions, f"{code} cameras")
        self.citizens = resolve(profile.citizens, institutions, f"{code} citizens")
        self.owners: dict[Act, list[str]] = {}
        for act in profile.acts:
            owners = resolve(act.owners or profile.owners, institutions, f"{code}: {act.name}")
            for owner in owners:
                cls = institutions[owner]
                if cls not in ("state", "nonstate"):
                    raise SystemExit(f"{code}: {act.name}: owner {owner} is of class {cls}")
                if (act.subjects or profile.subjects) == "organisation" and cls != "state":
                    raise SystemExit(f"{code}: organisations are rated by the state ({owner})")
            self.owners[act] = owners
        for code_ in self.cameras:
            if institutions[code_] != "camera":
                raise SystemExit(f"{code}: {code_} is not a camera network")
        for code_ in self.citizens:
            if institutions[code_] != "citizen":
                raise SystemExit(f"{code}: {code_} is not a citizen channel")

    def rows(self, n: int, rng: random.Random) -> list[list[str]]:
        """The category's ``n`` tail rows, numbered from 1."""
        p = self.p
        rows: list[list[str]] = []
        for i in range(1, n + 1):
            good = bool(self.good) and (not self.bad or rng.random() < p.addition_share)
            act = rng.choice(self.good if good else self.bad)
            name = f"{act.name} ({rng.choice(act.contexts or p.contexts)})"
            per_unit = bool(act.units) and rng.random() < PER_UNIT_SHARE
            if per_unit:
                name += f", per {rng.choice(act.units)}"
            points = points_of(rng, good, per_unit, p.heavy_share)
            expiry = expiry_of(rng, points, per_unit)

            size = rng.choices((1, 2, 3), (50, 35, 15))[0]
            extra: list[str] = []
            min_confidence = ""
            verify = ("", "", "")
            if act.camera and self.cameras and rng.random() < p.camera_share:
                extra += rng.sample(self.cameras, rng.choice((1, 1, 2)))
                min_confidence = rng.choice(CAMERA_CONFIDENCES)
            if act.citizen and self.citizens and rng.random() < p.citizen_share:
                extra.append(rng.choice(self.citizens))
                verify = rng.choice(VERIFICATIONS)
            extra = extra[-2:]  # at most three institutions, one of them an owner
            owners = self.owners[act]
            chosen = rng.sample(owners, min(len(owners), max(1, size - len(extra)))) + extra

            tags = list(p.tags) + [t for t in act.tags if t not in p.tags]
            rows.append(
                [
                    f"tail.{self.code}.{i:06d}",
                    name,
                    self.code,
                    str(points),
                    "true" if per_unit else "false",
                    str(expiry),
                    ";".join(chosen),
                    min_confidence,
                    *verify,
                    ";".join(tags),
                    act.subjects or p.subjects,
                ]
            )
        return rows


def main(argv: Sequence[str] | None = None) -> int:
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description="Write the seed rulebook's catalogue.")
    parser.add_argument("--rulebook", type=Path, default=root / "rulebooks" / "seed.yaml")
    parser.add_argument(
        "--total",
        type=int,
        default=TOTAL_PARAMETERS,
        help="parameters in the whole rulebook, YAML and catalogue",
    )
    args = parser.parse_args(argv)

    spec = yaml.safe_load(args.rulebook.read_text(encoding="utf-8"))
    catalogue = spec.get("catalogue")
    if not catalogue or not str(catalogue).endswith(".csv.gz"):
        raise SystemExit(f"{args.rulebook}: needs `catalogue: <name>.csv.gz`")
    institutions = {str(i["code"]): str(i["class"]) for i in spec["institutions"]}
    categories = [str(c["code"]) for c in spec["categories"]]
    yaml_codes = [str(p["code"]) for p in spec.get("parameters") or []]
    missing = [c for c in categories if c not in PROFILES]
    if missing:
        raise SystemExit(f"no profile for categories {missing}: add them to PROFILES")
    unknown = [c for c in PROFILES if c not in categories]
    if unknown:
        raise SystemExit(f"profiles for categories not in the rulebook: {unknown}")
    if any(code.startswith("tail.") for code in yaml_codes):
        raise SystemExit("YAML parameter codes must not start with 'tail.' (kept for the tail)")

    tail = args.total - len(yaml_codes)
    if tail < 0:
        raise SystemExit(f"the YAML already has {len(yaml_codes)} parameters > {args.total}")
    counts = allocate(tail, {c: PROFILES[c].weight for c in categories if PROFILES[c].weight})

    rng = random.Random(SEED)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(COLUMNS)
    for code in categories:
        if counts.get(code):
            writer.writerows(Category(code, PROFILES[code], institutions).rows(counts[code], rng))

    out = args.rulebook.parent / str(catalogue)
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(text.getvalue().encode("utf-8"))
    out.write_bytes(buffer.getvalue())

    print(
        f"{out}: {tail:,} tail rows + {len(yaml_codes)} YAML parameters = {args.total:,} "
        f"parameters; {out.stat().st_size:,} bytes"
    )
    for code in categories:
        if counts.get(code):
            print(f"  {code:<26} {counts[code]:>7,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
