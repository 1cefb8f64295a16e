"""Synthetic mail-gateway log of one organisation, with injected, labeled anomalies.

The organisation is *Northwind Traders*: roughly 300 employees on the main domain
``northwind-traders.com`` plus an R&D group on ``nwt-labs.io``, spread over the
departments Executive (CEO, CFO, COO, CTO, General Counsel, Chief People Officer),
Sales, Engineering, Support, Finance, Marketing, HR, IT and Legal. Around 70
external domains surround it: customers, partners, vendors, law firms, banks,
agencies, investors, free-mail users and well-known services (microsoft.com,
google.com, salesforce.com, docusign.net, github.com, amazon.com, ...).

Normal traffic has the regularities a detector should learn:

* every employee mails a stable, Zipf-weighted set of colleagues and external
  contacts, so sender -> recipient pairs repeat;
* subjects come from per-department templates with variable parts (projects,
  tickets, quarters, customer names, dates); replies ("Re: "/"RE: ") and
  forwards ("Fwd: "/"FW: ") reuse earlier subjects and swap the parties;
* people write Mon-Fri, mostly 07:00-19:00 with a daily curve and little at
  weekends; inbound and automated mail also trickles in at night;
* automated senders (GitHub, Jira, Salesforce, DocuSign, helpdesk, ...) mail
  their usual audience, and scheduled feeds go out at fixed times (daily digest
  06:00, weekly newsletter Monday 09:00, monthly invoices and payslips, ...),
  often to many recipients at once.

Injected anomalies (``label == 1``), about ``anomaly_rate`` of all rows:

* ``after_hours_bulk`` - an internal account mailing many (mostly external)
  recipients between 00:30 and 04:30, attachment-like subjects.
* ``lookalike_domain`` - a copy of an ordinary message whose sender domain is a
  1-2 character edit of a frequent domain (``northwind-tradres.com``,
  ``rnicrosoft.com``); business hours and ordinary subject, so only the sender
  gives it away.
* ``first_time_sender_to_exec`` - a never-seen external (free-mail or random
  domain) writing to an executive about wire transfers and the like.
* ``phishing_subject`` - external senders with shouty, money/urgency or
  unicode-spoofed subjects to ordinary employees.
* ``sender_burst`` - one sender firing dozens of messages within a few minutes
  at many different recipients (every message of the burst is labeled).

The organisation itself (people, contacts, partners) is fixed for a given head
count, so logs generated with different seeds share the same organisation and
differ in traffic and anomalies. Head count stays ~300 until the log would
span more than a year; larger logs grow the head count instead.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
from rapidfuzz.distance import Levenshtein

COLUMNS = ("UUID", "Recipient", "Sender", "Subject", "Time Processed", "label", "anomaly_kind")
ANOMALY_KINDS = (
    "after_hours_bulk",
    "lookalike_domain",
    "first_time_sender_to_exec",
    "phishing_subject",
    "sender_burst",
)
INTERNAL_DOMAIN = "northwind-traders.com"
LABS_DOMAIN = "nwt-labs.io"
INTERNAL_DOMAINS = (INTERNAL_DOMAIN, LABS_DOMAIN)

# The organisation does not depend on the traffic seed, so logs made with
# different seeds (e.g. a training and a test log) describe the same company.
_ORG_SEED = 20261005
_BASE_HEAD_COUNT = 300
_MAX_SPAN_DAYS = 365
_SECONDS_PER_DAY = 86_400
_MIN_ROWS_FOR_EVERY_KIND = 500

# Human mail per employee on a weekday (sent + received rows attributed to them);
# weekends are much quieter.
_ROWS_PER_HEAD_PER_WEEKDAY = 3.0
_WEEKEND_FACTOR = {"human": 0.07, "inbound": 0.2, "automated": 0.45}

# Share of non-scheduled rows per traffic category.
_CATEGORY_SHARES = {"internal": 0.40, "outbound": 0.17, "inbound": 0.27, "automated": 0.16}
_REPLY_SHARE = 0.30
_FORWARD_SHARE = 0.04

_ANOMALY_SHARES = {
    "after_hours_bulk": 0.15,
    "lookalike_domain": 0.20,
    "first_time_sender_to_exec": 0.15,
    "phishing_subject": 0.20,
    "sender_burst": 0.30,
}
_MIN_BURST_ROWS = 8

_N_INTERNAL_CONTACTS = 16
_N_EXTERNAL_CONTACTS = 8
_MAX_RECIPIENTS = 8
_LIST_CHUNK = 50  # gateways split big distribution lists into chunks of recipients

# Relative volume per hour of day (UTC is the organisation's local time).
_HOURLY = {
    "human": [0, 0, 0, 0, 0, 0, 0.4, 2, 6, 10, 10, 9, 5, 7, 9, 9, 8, 5, 2.5, 1.2, 0.7, 0.5, 0.3, 0.1],
    "inbound": [0.5, 0.4, 0.4, 0.4, 0.5, 0.7, 1, 2.5, 5, 8, 9, 9, 6, 7, 9, 9, 8, 6, 4, 2.5, 1.5, 1, 0.8, 0.6],
    "automated": [1.5, 1.2, 1, 1, 1, 1.2, 2, 3, 5, 6, 6, 6, 5, 6, 6, 6, 5, 4, 3, 2.5, 2, 2, 1.8, 1.6],
}

DEPARTMENTS = ("Executive", "Sales", "Engineering", "Support", "Finance", "Marketing", "HR", "IT", "Legal")
_DEPT = {name: i for i, name in enumerate(DEPARTMENTS)}
_STAFF_PER_300 = {
    "Sales": 70,
    "Engineering": 90,
    "Support": 50,
    "Finance": 25,
    "Marketing": 20,
    "HR": 15,
    "IT": 14,
    "Legal": 10,
}
_LABS_SHARE_OF_ENGINEERING = 0.45

_EXECUTIVES = (
    ("Margaret", "Chen", "Chief Executive Officer"),
    ("David", "Okafor", "Chief Financial Officer"),
    ("Elena", "Rossi", "Chief Operating Officer"),
    ("Rajesh", "Iyer", "Chief Technology Officer"),
    ("Hannah", "Lindqvist", "General Counsel"),
    ("Marcus", "Webb", "Chief People Officer"),
)
# CFO and CEO are the usual targets of payment fraud.
_EXEC_TARGET_WEIGHTS = (0.3, 0.35, 0.15, 0.05, 0.1, 0.05)

# Share of each department's mail that goes to other departments, by department.
_CROSS_DEPT = {
    "Executive": {"Finance": 3, "Sales": 3, "Engineering": 2, "HR": 2, "Legal": 2, "Marketing": 1},
    "Sales": {"Support": 3, "Marketing": 3, "Finance": 2, "Legal": 1, "Executive": 0.5},
    "Engineering": {"Support": 3, "IT": 2, "Marketing": 0.5, "Executive": 0.3},
    "Support": {"Engineering": 3, "Sales": 3, "IT": 1},
    "Finance": {"Sales": 2, "HR": 2, "Legal": 1, "Executive": 1.5, "IT": 0.5},
    "Marketing": {"Sales": 4, "Engineering": 1, "Executive": 0.5, "Legal": 0.5},
    "HR": {"Finance": 2, "Legal": 1, "Executive": 1, "IT": 1, "Sales": 1, "Engineering": 1},
    "IT": {"Engineering": 3, "HR": 1, "Finance": 1, "Support": 1},
    "Legal": {"Sales": 3, "Finance": 2, "Executive": 2, "HR": 1},
}
_OWN_DEPT_MASS = 0.68

# How strongly each department writes internal / outbound / receives inbound mail.
_CATEGORY_DEPT_WEIGHT = {
    "internal": {
        "Executive": 1.3,
        "Sales": 0.9,
        "Engineering": 1.2,
        "Support": 0.9,
        "Finance": 1.0,
        "Marketing": 1.0,
        "HR": 1.1,
        "IT": 1.0,
        "Legal": 0.9,
    },
    "outbound": {
        "Executive": 0.8,
        "Sales": 2.0,
        "Engineering": 0.3,
        "Support": 1.6,
        "Finance": 0.9,
        "Marketing": 1.0,
        "HR": 0.8,
        "IT": 0.5,
        "Legal": 1.0,
    },
    "inbound": {
        "Executive": 0.9,
        "Sales": 2.0,
        "Engineering": 0.35,
        "Support": 1.8,
        "Finance": 1.0,
        "Marketing": 1.0,
        "HR": 0.9,
        "IT": 0.5,
        "Legal": 1.0,
    },
}

# Which kinds of external organisation each department deals with.
_EXTERNAL_AFFINITY = {
    "Executive": {"investor": 0.3, "partner": 0.3, "law": 0.15, "finance": 0.15, "customer": 0.1},
    "Sales": {"customer": 0.75, "partner": 0.15, "tech": 0.1},
    "Engineering": {"tech": 0.5, "vendor": 0.3, "partner": 0.2},
    "Support": {"customer": 0.7, "freemail": 0.2, "tech": 0.1},
    "Finance": {"finance": 0.4, "vendor": 0.4, "customer": 0.2},
    "Marketing": {"agency": 0.6, "tech": 0.25, "partner": 0.15},
    "HR": {"recruiting": 0.5, "freemail": 0.35, "vendor": 0.15},
    "IT": {"tech": 0.6, "vendor": 0.4},
    "Legal": {"law": 0.6, "customer": 0.25, "partner": 0.15},
}

# (domain, organisation name, kind, human contacts, local-part style)
_EXTERNAL_DOMAINS = (
    ("contoso.com", "Contoso", "customer", 6, "first.last"),
    ("fabrikam.com", "Fabrikam", "customer", 6, "flast"),
    ("adventure-works.com", "Adventure Works", "customer", 5, "first.last"),
    ("litware.com", "Litware", "customer", 4, "first"),
    ("tailspintoys.com", "Tailspin Toys", "customer", 4, "first.last"),
    ("wingtiptoys.com", "Wingtip Toys", "customer", 3, "first.last"),
    ("alpineskihouse.com", "Alpine Ski House", "customer", 3, "first_last"),
    ("proseware.com", "Proseware", "customer", 4, "flast"),
    ("fourthcoffee.com", "Fourth Coffee", "customer", 4, "first.last"),
    ("cohowinery.com", "Coho Winery", "customer", 3, "first"),
    ("blueyonderairlines.com", "Blue Yonder Airlines", "customer", 5, "first.last"),
    ("lucernepublishing.com", "Lucerne Publishing", "customer", 3, "first.last"),
    ("margiestravel.com", "Margie's Travel", "customer", 3, "first"),
    ("wideworldimporters.com", "Wide World Importers", "customer", 6, "first.last"),
    ("southridgevideo.com", "Southridge Video", "customer", 3, "flast"),
    ("adatum.com", "A. Datum", "customer", 5, "first.last"),
    ("relecloud.com", "Relecloud", "customer", 4, "first.last"),
    ("lamnahealthcare.com", "Lamna Healthcare", "customer", 4, "first.last"),
    ("consolidatedmessenger.com", "Consolidated Messenger", "customer", 3, "flast"),
    ("bellowscollege.edu", "Bellows College", "customer", 3, "first.last"),
    ("vanarsdel.com", "VanArsdel", "customer", 4, "first.last"),
    ("firstup-consultants.com", "Firstup Consultants", "customer", 3, "first"),
    ("humongousinsurance.com", "Humongous Insurance", "customer", 4, "first.last"),
    ("treyresearch.net", "Trey Research", "customer", 3, "flast"),
    ("graphicdesigninstitute.com", "Graphic Design Institute", "customer", 2, "first.last"),
    ("woodgrove-retail.com", "Woodgrove Retail", "customer", 4, "first.last"),
    ("datum-logistics.com", "Datum Logistics", "partner", 4, "first.last"),
    ("kestrel-systems.com", "Kestrel Systems", "partner", 4, "flast"),
    ("bluefin-integrators.com", "Bluefin Integrators", "partner", 3, "first.last"),
    ("harborview-analytics.com", "Harborview Analytics", "partner", 3, "first"),
    ("greenleaf-office.com", "Greenleaf Office Supply", "vendor", 2, "first"),
    ("swiftship-logistics.com", "SwiftShip Logistics", "vendor", 3, "first.last"),
    ("brightpath-payroll.com", "BrightPath Payroll", "vendor", 2, "first.last"),
    ("cloudnine-hosting.net", "CloudNine Hosting", "vendor", 3, "flast"),
    ("ironclad-security.io", "Ironclad Security", "vendor", 3, "first"),
    ("meridian-travel.com", "Meridian Travel", "vendor", 2, "first.last"),
    ("oakridge-insurance.com", "Oakridge Insurance", "vendor", 2, "first.last"),
    ("summit-benefits.com", "Summit Benefits", "recruiting", 3, "first.last"),
    ("pinnacle-staffing.com", "Pinnacle Staffing", "recruiting", 4, "first.last"),
    ("talentbridge-search.com", "TalentBridge Search", "recruiting", 3, "flast"),
    ("baker-lowell-law.com", "Baker Lowell LLP", "law", 3, "flast"),
    ("whitfield-partners.com", "Whitfield & Partners", "law", 3, "first.last"),
    ("first-harbor-bank.com", "First Harbor Bank", "finance", 3, "first.last"),
    ("hale-audit.com", "Hale Audit & Tax", "finance", 3, "flast"),
    ("granite-ventures.com", "Granite Ventures", "investor", 3, "first"),
    ("northstar-capital.com", "Northstar Capital", "investor", 2, "first.last"),
    ("lumen-creative.com", "Lumen Creative", "agency", 3, "first"),
    ("echo-pr.com", "Echo PR", "agency", 2, "first.last"),
    ("microsoft.com", "Microsoft", "tech", 3, "flast"),
    ("google.com", "Google", "tech", 3, "first"),
    ("salesforce.com", "Salesforce", "tech", 3, "flast"),
    ("amazon.com", "Amazon Web Services", "tech", 3, "flast"),
    ("github.com", "GitHub", "tech", 1, "first"),
    ("atlassian.com", "Atlassian", "tech", 1, "flast"),
    ("adobe.com", "Adobe", "tech", 1, "flast"),
    ("hubspot.com", "HubSpot", "tech", 2, "flast"),
    ("docusign.net", "DocuSign", "service", 0, "first"),
    ("zoom.us", "Zoom", "service", 0, "first"),
    ("slack.com", "Slack", "service", 0, "first"),
    ("linkedin.com", "LinkedIn", "service", 0, "first"),
    ("fedex.com", "FedEx", "service", 0, "first"),
    ("dropbox.com", "Dropbox", "service", 0, "first"),
    ("gmail.com", "", "freemail", 40, "freemail"),
    ("outlook.com", "", "freemail", 20, "freemail"),
    ("yahoo.com", "", "freemail", 12, "freemail"),
    ("icloud.com", "", "freemail", 8, "freemail"),
)
_FREEMAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me", "gmx.net")

_FIRST_NAMES = (
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "Daniel",
    "Susan",
    "Thomas",
    "Jessica",
    "Christopher",
    "Sarah",
    "Matthew",
    "Karen",
    "Anthony",
    "Lisa",
    "Mark",
    "Nancy",
    "Steven",
    "Sandra",
    "Andrew",
    "Ashley",
    "Joshua",
    "Emily",
    "Kevin",
    "Michelle",
    "Brian",
    "Amanda",
    "George",
    "Melissa",
    "Timothy",
    "Stephanie",
    "Ryan",
    "Rebecca",
    "Jacob",
    "Laura",
    "Nicholas",
    "Emma",
    "Eric",
    "Olivia",
    "Jonathan",
    "Sophia",
    "Samuel",
    "Chloe",
    "Benjamin",
    "Grace",
    "Lucas",
    "Mia",
    "Noah",
    "Hannah",
    "Liam",
    "Isabella",
    "Ethan",
    "Ava",
    "Oliver",
    "Zoe",
    "Ahmed",
    "Fatima",
    "Omar",
    "Aisha",
    "Wei",
    "Mei",
    "Hiroshi",
    "Yuki",
    "Raj",
    "Priya",
    "Arjun",
    "Ananya",
    "Carlos",
    "Sofia",
    "Diego",
    "Lucia",
    "Mateo",
    "Valentina",
    "Pierre",
    "Camille",
    "Lars",
    "Ingrid",
    "Sven",
    "Astrid",
    "Klaus",
    "Greta",
    "Marco",
    "Giulia",
    "Pavel",
    "Katarina",
    "Kwame",
    "Amara",
    "Tunde",
    "Zainab",
    "Ivan",
    "Natalia",
    "Jin",
    "Soo-ah",
    "Tomasz",
    "Agnieszka",
    "Connor",
    "Siobhan",
    "Felix",
    "Leonie",
    "Nils",
    "Freya",
    "Mohammed",
    "Leila",
    "Tariq",
    "Nadia",
)
_LAST_NAMES = (
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Patel",
    "Shah",
    "Kumar",
    "Singh",
    "Wang",
    "Zhang",
    "Li",
    "Liu",
    "Tanaka",
    "Sato",
    "Suzuki",
    "Kim",
    "Park",
    "Choi",
    "Muller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Becker",
    "Hoffmann",
    "Dubois",
    "Laurent",
    "Moreau",
    "Bernard",
    "Rossi",
    "Russo",
    "Ferrari",
    "Bianchi",
    "Novak",
    "Kowalski",
    "Nowak",
    "Ivanov",
    "Petrov",
    "Johansson",
    "Andersson",
    "Nilsson",
    "Larsen",
    "Hansen",
    "Jensen",
    "OBrien",
    "Murphy",
    "Kelly",
    "Walsh",
    "Mensah",
    "Okoye",
    "Adeyemi",
    "Haddad",
    "Khan",
    "Hussain",
    "Rahman",
    "Silva",
    "Santos",
    "Costa",
    "Oliveira",
    "Pereira",
    "Alvarez",
    "Romero",
    "Castro",
    "Vargas",
    "Cohen",
    "Levi",
    "Novotny",
    "Horvat",
)

_PROJECTS = (
    "Atlas",
    "Borealis",
    "Cascade",
    "Delta",
    "Ember",
    "Falcon",
    "Granite",
    "Harbor",
    "Ion",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Meridian",
    "Nimbus",
    "Orion",
    "Pioneer",
    "Quartz",
    "Redwood",
    "Sierra",
    "Tundra",
    "Vega",
    "Zephyr",
)
_REPOS = (
    "order-service",
    "web-portal",
    "billing-api",
    "data-pipeline",
    "mobile-app",
    "infra",
    "auth-service",
    "search",
    "inventory-sync",
    "design-system",
)
_PRODUCTS = ("Northwind ERP", "Northwind Analytics", "Supply Hub", "Order Portal", "Inventory Cloud", "Route Planner")
_ROLES = (
    "Account Executive",
    "Senior Software Engineer",
    "Data Analyst",
    "Support Specialist",
    "Financial Controller",
    "HR Generalist",
    "Product Marketing Manager",
    "IT Administrator",
    "Paralegal",
    "Engineering Manager",
)
_TOOLS = (
    "Salesforce",
    "Jira",
    "Figma",
    "Tableau",
    "Adobe Creative Cloud",
    "Zoom",
    "Slack",
    "GitHub Enterprise",
    "Okta",
    "DocuSign",
)
_TOPICS = (
    "login issues",
    "invoice discrepancy",
    "API timeouts",
    "data export",
    "SSO configuration",
    "report scheduling",
    "mobile sync",
    "password reset",
    "integration errors",
    "shipping delays",
)
_CAMPAIGNS = ("Autumn Launch", "Webinar Series", "Partner Summit", "Customer Stories", "Holiday Promo", "Product Tour")
_EVENTS = ("SaaS Connect Berlin", "Retail Tech Expo", "Partner Summit", "Supply Chain Forum")
_POLICIES = ("Acceptable Use", "Data Retention", "Travel & Expenses", "Remote Work", "Information Security")
_STAGES = ("Qualification", "Discovery", "Proposal", "Negotiation", "Closed Won", "Closed Lost")
_IT_ISSUES = (
    "Laptop not booting",
    "VPN connection drops",
    "New monitor request",
    "Printer offline",
    "Shared drive access",
    "Outlook keeps crashing",
    "Password reset",
)
_STATUSES = ("In Progress", "Waiting for customer", "Resolved", "Closed")
_CHANNELS = ("general", "sales-team", "eng-announcements", "support-escalations", "random", "incidents")
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
_HEADLINES = (
    "Q3 results and what's next",
    "Meet the new Labs team",
    "Office move update",
    "Customer wins of the month",
    "Security awareness month",
    "Welcome our new starters",
    "Product roadmap highlights",
    "Volunteering day recap",
)

_INTERNAL_SUBJECTS = {
    "Executive": (
        "Board deck {quarter}",
        "Leadership offsite agenda",
        "Org announcement draft",
        "{quarter} OKRs",
        "Strategy review: {project}",
        "Hiring plan {year}",
        "Exec staff meeting",
        "Budget sign-off {quarter}",
    ),
    "Sales": (
        "Pipeline review {quarter}",
        "Deal desk: discount approval for {customer}",
        "Forecast call prep - {weekday}",
        "Territory planning {quarter}",
        "Commission statement {month}",
        "Handover: {customer} account",
        "Quote Q-{num} needs approval",
        "{product} positioning deck",
    ),
    "Engineering": (
        "Code review: {repo} #{num}",
        "Design doc: {project}",
        "Sprint {small} planning",
        "Incident postmortem: {repo}",
        "Release {version} checklist",
        "Flaky tests in {repo}",
        "Architecture sync - {project}",
        "On-call rota {month}",
    ),
    "Support": (
        "Escalation: {customer} ticket #{ticket}",
        "Weekly support metrics",
        "Knowledge base article: {topic}",
        "Shift swap {weekday}",
        "Bug report: {topic}",
        "Customer health review - {customer}",
    ),
    "Finance": (
        "Month-end close {month}",
        "Budget {quarter} variance",
        "Expense policy update",
        "Invoice approval INV-{num}",
        "Cash flow forecast {quarter}",
        "Audit prep: {quarter}",
        "Payroll accrual {month}",
    ),
    "Marketing": (
        "Campaign brief: {campaign}",
        "Webinar {month} - speakers",
        "Blog draft: {topic}",
        "Brand guidelines v{small}",
        "Event logistics - {event}",
        "Newsletter copy for review",
    ),
    "HR": (
        "Offer approval: {role}",
        "Interview feedback - {person}",
        "Onboarding: {person} starts {weekday}",
        "Performance review cycle {quarter}",
        "Benefits enrollment reminder",
        "Training schedule {month}",
    ),
    "IT": (
        "Laptop refresh {quarter}",
        "VPN maintenance {weekday}",
        "Access request: {tool}",
        "MFA enrollment reminder",
        "New starter accounts - {month}",
        "Patch window {weekday}",
    ),
    "Legal": (
        "NDA review - {customer}",
        "Contract redlines: {customer} MSA",
        "Trademark filing {project}",
        "DPA question - {customer}",
        "Policy update: {policy}",
    ),
}
# Internal recurring reports whose subject carries the date of sending.
_DATED_SUBJECTS = {
    "Executive": ("Daily briefing",),
    "Sales": ("Sales daily update", "Pipeline snapshot"),
    "Engineering": ("Standup notes", "On-call handover"),
    "Support": ("Support shift report",),
    "Finance": ("Cash position",),
    "Marketing": ("Campaign stats",),
    "HR": ("Recruiting update",),
    "IT": ("Service desk summary",),
    "Legal": ("Contracts tracker",),
}
_DATED_SUBJECT_SHARE = 0.12
_EXTERNAL_SUBJECTS = {
    "Executive": (
        "Board meeting {month}",
        "Investor update {quarter}",
        "Partnership discussion",
        "Introduction: {org} x Northwind",
        "Lunch next week?",
        "Follow-up from our meeting",
    ),
    "Sales": (
        "Proposal for {org} - {product}",
        "Follow-up on our call",
        "{product} pricing for {org}",
        "Renewal {org} {year}",
        "Meeting request: {product} demo",
        "Order confirmation PO-{num}",
        "Contract draft for review",
        "Introduction: Northwind Traders x {org}",
    ),
    "Engineering": (
        "API integration question",
        "{project} - SDK access",
        "Support case {num}: API latency",
        "Security questionnaire",
        "License renewal for {tool}",
        "Webhook failures since {weekday}",
    ),
    "Support": (
        "[Ticket #{ticket}] {topic}",
        "Your request #{ticket} has been received",
        "Issue with {topic}",
        "Question about order PO-{num}",
        "Follow-up on ticket #{ticket}",
    ),
    "Finance": (
        "Invoice INV-{num}",
        "Remittance advice {num}",
        "Payment confirmation",
        "Statement of account {month}",
        "Audit request list {year}",
        "Credit note CN-{num}",
    ),
    "Marketing": (
        "Proposal: {campaign} campaign",
        "Media kit {year}",
        "Event sponsorship - {event}",
        "Creative assets for review",
        "Case study with {org}",
    ),
    "HR": (
        "Application for {role}",
        "Interview availability",
        "Candidate shortlist - {role}",
        "Benefits renewal {year}",
        "Reference check: {person}",
        "Background check completed",
    ),
    "IT": (
        "License renewal: {tool}",
        "Quote for {small}0 laptops",
        "Service ticket {num}",
        "Maintenance notice {weekday}",
        "Renewal quote {year}",
    ),
    "Legal": (
        "Executed NDA - {org}",
        "Redlines attached: MSA v{small}",
        "Engagement letter {year}",
        "Matter {num} - status update",
    ),
}

# Automated senders with random send times: (display name, address, audience, volume, subjects).
_AUTOMATED_SENDERS = (
    (
        "GitHub",
        "notifications@github.com",
        {"Engineering": 1.0},
        3.0,
        (
            "[northwind/{repo}] {topic} (#{num})",
            "[northwind/{repo}] Run failed: CI - main ({sha})",
            "[northwind/{repo}] Pull request #{num} merged",
            "[northwind/{repo}] Review requested on #{num}",
        ),
    ),
    (
        "Jira",
        "jira@atlassian.net",
        {"Engineering": 1.0, "Support": 0.6, "IT": 0.5},
        2.5,
        ("[JIRA] (NWT-{num}) {topic}", "[JIRA] (SUP-{num}) {topic} - status changed", "[JIRA] Updates for NWT-{num}"),
    ),
    (
        "Salesforce",
        "noreply@salesforce.com",
        {"Sales": 1.0, "Executive": 0.2},
        2.0,
        (
            "Opportunity {customer} - stage changed to {stage}",
            "Task reminder: follow up with {customer}",
            "Lead assigned: {person} ({customer})",
        ),
    ),
    (
        "DocuSign",
        "dse@docusign.net",
        {"Sales": 0.6, "Legal": 1.0, "Finance": 0.6, "HR": 0.5},
        1.2,
        (
            "Please DocuSign: {customer} MSA {year}",
            "Completed: {customer} Order Form {num}",
            "Please DocuSign: Offer letter - {person}",
        ),
    ),
    (
        "Microsoft Teams",
        "noreply@microsoft.com",
        {d: 1.0 for d in DEPARTMENTS},
        2.0,
        (
            "You have {small} missed messages in Teams",
            "{person} mentioned you in {channel}",
            "Microsoft 365 Message center weekly digest",
        ),
    ),
    (
        "Amazon Web Services",
        "no-reply-aws@amazon.com",
        {"IT": 1.0, "Engineering": 0.5, "Finance": 0.3},
        0.8,
        (
            "AWS Notification - Budget alert: {project}",
            "Your AWS Support case {num} has been updated",
            "AWS Health Event - scheduled maintenance",
        ),
    ),
    (
        "Zoom",
        "no-reply@zoom.us",
        {"Sales": 1.0, "Executive": 0.8, "Marketing": 0.6, "HR": 0.5},
        1.0,
        (
            "Cloud Recording - {project} sync is now available",
            "{person} has joined your meeting",
            "Meeting reminder: {product} demo",
        ),
    ),
    (
        "LinkedIn",
        "messages-noreply@linkedin.com",
        {"HR": 1.0, "Sales": 0.5, "Marketing": 0.5},
        0.8,
        ("{person} sent you a message", "You appeared in {small} searches this week", "New applicants for {role}"),
    ),
    (
        "Google Ads",
        "ads-noreply@google.com",
        {"Marketing": 1.0},
        0.5,
        (
            "Your Google Ads campaign {campaign} - weekly performance",
            "Billing: payment received",
            "Recommendations to improve {campaign}",
        ),
    ),
    (
        "HubSpot",
        "noreply@hubspot.com",
        {"Marketing": 1.0, "Sales": 0.3},
        0.6,
        ("New form submission on {product} landing page", "Email {campaign}: performance report"),
    ),
    (
        "Slack",
        "notification@slack.com",
        {"Engineering": 1.0, "Marketing": 0.5, "Support": 0.5},
        0.6,
        ("[Slack] New messages from {person} in #{channel}", "[Slack] Notifications from the Northwind workspace"),
    ),
    (
        "FedEx",
        "trackingupdates@fedex.com",
        {"Sales": 0.5, "Support": 1.0, "Finance": 0.3},
        0.5,
        ("FedEx Shipment {num} Delivered", "FedEx Shipment {num}: on its way"),
    ),
    (
        "NWT IT Helpdesk",
        "helpdesk@northwind-traders.com",
        {d: 1.0 for d in DEPARTMENTS},
        1.2,
        ("[IT-{num}] {it_issue} - status updated to {status}", "[IT-{num}] {it_issue} - ticket received"),
    ),
    (
        "NWT Expenses",
        "expenses@northwind-traders.com",
        {d: 1.0 for d in DEPARTMENTS},
        0.7,
        (
            "Expense report ER-{num} approved",
            "Expense report ER-{num} needs your approval",
            "Reminder: submit {month} expenses",
        ),
    ),
)

# Scheduled feeds: (display name, address, audience, rule, seconds after midnight, subject).
_SCHEDULED_FEEDS = (
    (
        "Northwind Daily Digest",
        "digest@northwind-traders.com",
        "all",
        "weekdays",
        6 * 3600,
        "Northwind Daily Digest - {day_label}",
    ),
    (
        "Northwind Weekly",
        "newsletter@northwind-traders.com",
        "all",
        "monday",
        9 * 3600,
        "Northwind Weekly #{week}: {headline}",
    ),
    (
        "Salesforce Reports",
        "reports@salesforce.com",
        "Sales",
        "weekdays",
        7 * 3600 + 1800,
        "Daily Pipeline Report - {iso_date}",
    ),
    (
        "GitHub",
        "noreply@github.com",
        "Engineering",
        "monday",
        8 * 3600,
        "[northwind] Your weekly digest for {iso_date}",
    ),
    (
        "Microsoft Azure",
        "azure-noreply@microsoft.com",
        "Engineering+IT",
        "wednesday",
        17 * 3600,
        "Azure updates: what's new this week",
    ),
    (
        "NWT IT Operations",
        "it-ops@northwind-traders.com",
        "all",
        "friday",
        16 * 3600,
        "Scheduled maintenance window - Saturday {next_day_label}",
    ),
    (
        "Amazon Web Services Billing",
        "aws-billing@amazon.com",
        "Finance",
        "monthly:2",
        3 * 3600 + 300,
        "Your AWS invoice for {prev_month} is available",
    ),
    (
        "NWT Payroll",
        "payroll@northwind-traders.com",
        "all",
        "monthly:25",
        10 * 3600,
        "Your payslip for {month_name} is available",
    ),
)

_AFTER_HOURS_SUBJECTS = (
    "Invoice_{num}.pdf",
    "{quarter} price list.xlsx",
    "Customer_database_export.zip",
    "Shared document: Employee_Salaries_{year}.xlsx",
    "Please review the attached file",
    "Scanned document {num}.pdf",
    "Project files - {project}.zip",
    "Payment details attached",
    "Contracts_{year}_all.zip",
)
_EXEC_FRAUD_SUBJECTS = (
    "Urgent wire transfer request",
    "Are you at your desk?",
    "Confidential - acquisition payment needed today",
    "Quick favour - gift cards for the team",
    "Updated bank details for {org} invoice",
    "Request: process payment of ${amount} before 3pm",
    "Private & confidential: {project} deal",
    "Can you handle a task for me discreetly?",
    "Urgent: vendor payment approval",
)
_PHISHING_SUBJECTS = (
    "ACTION REQUIRED: Your password expires TODAY!!!",
    "Invoice #{num} overdue - pay ${amount} now",
    "URGENT: Your mailbox is 98% FULL - upgrade NOW!!",
    "\uff33ecurity \uff41lert: unusual sign-in to your account",
    "Your Micr0soft 365 account will be SUSPENDED in 24h!!!",
    "FINAL NOTICE: payment of ${amount} DECLINED",
    "You have ({small}) undelivered messages - RELEASE them now",
    "Congratulations!!! You've WON a ${amount} gift card \U0001f381",
    "V\u0435rify your \u0430\u0441\u0441\u043eunt immediately",
    "\u26a0\ufe0f DocuSign: Document #{num} waiting for your signature - EXPIRES TODAY",
    "RE: Outstanding payment ${amount} - wire details inside",
    "Voicemail (0:4{small}) from +1 (555) ***-**{small}{small} \U0001f4de",
    "Your package could not be delivered - pay $1.99 customs fee",
    "HR: MANDATORY salary adjustment review - sign by 5PM!!",
    "\u0421\u0440\u0435\u0441\u0456al offer: claim ${amount} refund!!!",
)
_PHISHING_DISPLAY_NAMES = (
    "IT Support",
    "Microsoft Security",
    "Accounts Payable",
    "Mail Administrator",
    "Payroll Department",
    "DocuSign Service",
    "Delivery Notification",
    "Help Desk",
)
_PHISHING_LOCAL_PARTS = ("no-reply", "security", "billing", "support", "admin", "it-desk", "notice", "alert")
_SHADY_WORDS = (
    "secure",
    "verify",
    "account",
    "update",
    "login",
    "billing",
    "notice",
    "portal",
    "mail",
    "service",
    "payment",
    "support",
    "cloud",
    "docs",
    "parcel",
    "payroll",
)
_SHADY_TLDS = ("com", "net", "info", "top", "xyz", "click", "online", "support")
_FRAUD_DOMAIN_WORDS = (
    "global",
    "exec",
    "capital",
    "trust",
    "wire",
    "fin",
    "holdings",
    "partners",
    "consult",
    "advisory",
    "bridge",
    "summit",
    "office",
    "direct",
    "group",
)
_BURST_SUBJECTS_EXTERNAL = (
    "You have received a secure file",
    "Please review the attached document",
    "Quick question",
    "Document shared with you",
    "Re: your order",
)

# Visually confusable substitutions used by look-alike domains (each is an edit of 1-2).
_HOMOGLYPHS = {
    "o": ("0",),
    "l": ("1", "i"),
    "i": ("l", "1"),
    "m": ("rn", "n"),
    "w": ("vv",),
    "d": ("cl",),
    "e": ("c",),
    "g": ("q",),
    "n": ("m",),
    "u": ("v",),
    "a": ("e",),
    "c": ("e",),
    "s": ("5",),
    "b": ("d",),
}


# --------------------------------------------------------------------------- helpers


_DOMAIN_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")


def _lookalike_of(domain: str, rng: np.random.Generator, forbidden: set[str]) -> str:
    """A domain 1-2 edits away from ``domain`` that a hurried reader would not notice."""
    name, _, tld = domain.partition(".")
    for _ in range(200):
        trick = rng.integers(5)
        pos = int(rng.integers(len(name)))
        if trick == 0 and name[pos] in _HOMOGLYPHS:  # rn for m, 0 for o, ...
            options = _HOMOGLYPHS[name[pos]]
            candidate = name[:pos] + options[rng.integers(len(options))] + name[pos + 1 :]
        elif trick == 1 and pos + 1 < len(name) and name[pos] != name[pos + 1]:  # tradres
            candidate = name[:pos] + name[pos + 1] + name[pos] + name[pos + 2 :]
        elif trick == 2 and name[pos].isalpha():  # gooogle
            candidate = name[:pos] + name[pos] + name[pos:]
        elif trick == 3 and len(name) > 5:  # docusgn
            candidate = name[:pos] + name[pos + 1 :]
        elif trick == 4 and "-" in name:  # northwindtraders
            candidate = name.replace("-", "", 1)
        else:
            continue
        lookalike = f"{candidate}.{tld}"
        if (
            lookalike not in forbidden
            and _DOMAIN_RE.match(lookalike)
            and 1 <= Levenshtein.distance(lookalike, domain) <= 2
        ):
            return lookalike
    raise RuntimeError(f"could not derive a look-alike of {domain}")  # pragma: no cover


def _zipf_index(rng: np.random.Generator, size: int, n: int, exponent: float = 1.0) -> np.ndarray:
    """Indices in [0, n) where low indices are much more frequent (habits, popular threads)."""
    return np.searchsorted(_zipf_cdf(n, exponent), rng.random(size), side="right").clip(0, n - 1)


@functools.lru_cache(maxsize=64)
def _zipf_cdf(n: int, exponent: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


def _choice(rng: np.random.Generator, options, size=None):
    return (
        options[rng.integers(len(options))]
        if size is None
        else [options[i] for i in rng.integers(len(options), size=size)]
    )


class _Filler(dict):
    """Format mapping that invents a value for every template variable on demand."""

    def __init__(self, rng: np.random.Generator, cal: _Calendar, org_names: tuple[str, ...], org: str = ""):
        super().__init__()
        self.rng, self.cal, self.org_names, self.org = rng, cal, org_names, org

    def __missing__(self, key: str) -> str:
        rng = self.rng
        if key == "quarter":  # periods people talk about: around the time of the log
            return _choice(rng, self.cal.quarter_labels)
        if key == "year":
            return str(self.cal.year + int(rng.random() < 0.3))
        if key == "month":
            return _choice(rng, self.cal.month_labels)
        if key == "num":
            return str(rng.integers(1000, 99999))
        if key == "ticket":
            return str(rng.integers(100000, 999999))
        if key == "small":
            return str(rng.integers(2, 10))
        if key == "version":
            return f"{rng.integers(1, 6)}.{rng.integers(0, 20)}.{rng.integers(0, 10)}"
        if key == "sha":
            return "".join(_choice(rng, "0123456789abcdef", 7))
        if key == "amount":
            return f"{rng.integers(900, 49999):,}"
        if key == "person":
            return f"{_choice(rng, _FIRST_NAMES)} {_choice(rng, _LAST_NAMES)}"
        if key == "customer":
            return _choice(rng, self.org_names)
        if key == "org":
            return self.org or _choice(rng, self.org_names)
        pools = {
            "project": _PROJECTS,
            "repo": _REPOS,
            "product": _PRODUCTS,
            "role": _ROLES,
            "tool": _TOOLS,
            "topic": _TOPICS,
            "campaign": _CAMPAIGNS,
            "event": _EVENTS,
            "policy": _POLICIES,
            "stage": _STAGES,
            "it_issue": _IT_ISSUES,
            "status": _STATUSES,
            "channel": _CHANNELS,
            "weekday": _WEEKDAYS,
        }
        return _choice(rng, pools[key])


def _subject_pool(rng, templates, size, cal, org_names, org="") -> list[str]:
    return [t.format_map(_Filler(rng, cal, org_names, org)) for t in _choice(rng, templates, size)]


# --------------------------------------------------------------------------- organisation


@dataclass(frozen=True)
class _Organisation:
    addresses: np.ndarray  # object: bare address per address id
    sender_forms: np.ndarray  # object: how the gateway shows the address as a sender
    domains: tuple[str, ...]
    domain_of: np.ndarray  # int: domain id per address id
    outlook_style: np.ndarray  # bool: writes "RE:"/"FW:" instead of "Re:"/"Fwd:"
    n_employees: int  # employees are address ids [0, n_employees)
    employee_dept: np.ndarray
    employee_activity: np.ndarray
    executives: np.ndarray  # address ids, in _EXECUTIVES order
    internal_contacts: np.ndarray  # (n_employees, _N_INTERNAL_CONTACTS) address ids
    external_contacts: np.ndarray  # (n_employees, _N_EXTERNAL_CONTACTS) address ids
    external_people: np.ndarray  # address ids of external humans
    automated_ids: np.ndarray  # address id per _AUTOMATED_SENDERS entry
    scheduled_ids: np.ndarray  # address id per _SCHEDULED_FEEDS entry
    org_names: tuple[str, ...]  # customer organisation names, used in subjects


def _plan_size(n_normal: int) -> tuple[int, int]:
    """Head count and number of days so that per-day volume stays realistic."""
    weekday_share = (5 + 2 * _WEEKEND_FACTOR["human"]) / 7
    rows_per_day = _ROWS_PER_HEAD_PER_WEEKDAY * _BASE_HEAD_COUNT * weekday_share
    days = max(1, int(np.ceil(n_normal / rows_per_day)))
    if days <= _MAX_SPAN_DAYS:
        return _BASE_HEAD_COUNT, days
    head_count = int(np.ceil(_BASE_HEAD_COUNT * days / _MAX_SPAN_DAYS))
    return head_count, _MAX_SPAN_DAYS


def _local_part(first: str, last: str, style: str) -> str:
    first, last = first.lower().replace("-", ""), last.lower()
    return {
        "first.last": f"{first}.{last}",
        "flast": f"{first[0]}{last}",
        "first": first,
        "first_last": f"{first}_{last}",
    }[style]


@functools.lru_cache(maxsize=4)
def _build_organisation(head_count: int) -> _Organisation:
    rng = np.random.default_rng([_ORG_SEED, head_count])
    scale = head_count / _BASE_HEAD_COUNT
    addresses: list[str] = []
    names: list[str] = []
    domains_of: list[str] = []
    taken: set[str] = set()

    def add(local: str, domain: str, name: str) -> int:
        base, suffix = local, 2
        while f"{local}@{domain}" in taken:  # namesakes get a number, as real mail systems do
            local, suffix = f"{base}{suffix}", suffix + 1
        address = f"{local}@{domain}"
        taken.add(address)
        addresses.append(address)
        names.append(name)
        domains_of.append(domain)
        return len(addresses) - 1

    # Employees: executives first, then every department.
    dept_of: list[int] = []
    executives = []
    for first, last, _title in _EXECUTIVES:
        executives.append(add(_local_part(first, last, "first.last"), INTERNAL_DOMAIN, f"{first} {last}"))
        dept_of.append(_DEPT["Executive"])
    for dept, per_300 in _STAFF_PER_300.items():
        size = max(2, int(round(per_300 * scale)))
        labs = rng.random(size) < (_LABS_SHARE_OF_ENGINEERING if dept == "Engineering" else 0.0)
        for in_labs in labs:
            first, last = _choice(rng, _FIRST_NAMES), _choice(rng, _LAST_NAMES)
            add(_local_part(first, last, "first.last"), LABS_DOMAIN if in_labs else INTERNAL_DOMAIN, f"{first} {last}")
            dept_of.append(_DEPT[dept])
    n_employees = len(addresses)
    employee_dept = np.array(dept_of)

    # External people, grouped by kind of organisation.
    people_by_kind: dict[str, list[int]] = {}
    weight_by_person: dict[int, float] = {}
    for domain, _org, kind, n_contacts, style in _EXTERNAL_DOMAINS:
        if kind == "freemail":
            n_contacts = int(round(n_contacts * scale))
        elif n_contacts:
            n_contacts = int(round(n_contacts * max(1.0, scale) ** 0.5))
        importance = float(rng.lognormal(0, 0.6))  # some customers are simply bigger
        for _ in range(n_contacts):
            first, last = _choice(rng, _FIRST_NAMES), _choice(rng, _LAST_NAMES)
            if style == "freemail":
                local = _local_part(first, last, _choice(rng, ("first.last", "first_last", "flast")))
                local += str(rng.integers(1, 99)) if rng.random() < 0.5 else ""
            else:
                local = _local_part(first, last, style)
            person = add(local, domain, f"{first} {last}")
            people_by_kind.setdefault(kind, []).append(person)
            weight_by_person[person] = importance
    external_people = np.array(sorted(weight_by_person))

    automated_ids = np.array([add(*address.split("@"), display) for display, address, *_ in _AUTOMATED_SENDERS])
    scheduled_ids = []
    for display, address, *_ in _SCHEDULED_FEEDS:
        scheduled_ids.append(addresses.index(address) if address in taken else add(*address.split("@"), display))
    scheduled_ids = np.array(scheduled_ids)

    n_addresses = len(addresses)
    addresses_arr = np.array(addresses, dtype=object)
    names_arr = np.array(names, dtype=object)
    # Mail clients differ: some show "Name <address>", some only the address.
    shows_name = rng.random(n_addresses) < 0.65
    shows_name[automated_ids] = rng.random(len(automated_ids)) < 0.85
    shows_name[scheduled_ids] = True
    sender_forms = np.where(shows_name, names_arr + " <" + addresses_arr + ">", addresses_arr)
    domains = tuple(dict.fromkeys(domains_of))
    domain_index = {d: i for i, d in enumerate(domains)}
    domain_of = np.array([domain_index[d] for d in domains_of])

    # Internal contacts: mostly the own department, plus the departments one works with.
    dept_sizes = np.bincount(employee_dept, minlength=len(DEPARTMENTS))
    heads = np.array([np.flatnonzero(employee_dept == d)[0] for d in range(1, len(DEPARTMENTS))])
    internal_contacts = np.empty((n_employees, _N_INTERNAL_CONTACTS), dtype=np.int64)
    for dept_name, dept in _DEPT.items():
        cross = _CROSS_DEPT[dept_name]
        dept_mass = np.zeros(len(DEPARTMENTS))
        for other, weight in cross.items():
            dept_mass[_DEPT[other]] = weight
        dept_mass *= (1 - _OWN_DEPT_MASS) / dept_mass.sum()
        dept_mass[dept] = _OWN_DEPT_MASS
        weights = dept_mass[employee_dept] / dept_sizes[employee_dept]
        if dept_name == "Executive":
            weights[heads] *= 15  # the exec team talks to department heads
        for person in np.flatnonzero(employee_dept == dept):
            w = weights.copy()
            if person in heads:
                w[executives] *= 10
            w[person] = 0
            internal_contacts[person] = rng.choice(n_employees, _N_INTERNAL_CONTACTS, replace=False, p=w / w.sum())

    # External contacts: the kinds of organisation the department deals with.
    person_weights = np.array([weight_by_person[p] for p in external_people])
    external_contacts = np.empty((n_employees, _N_EXTERNAL_CONTACTS), dtype=np.int64)
    for dept_name, dept in _DEPT.items():
        w = np.zeros(len(external_people))
        for kind, share in _EXTERNAL_AFFINITY[dept_name].items():
            members = np.isin(external_people, people_by_kind[kind])
            w[members] = share * person_weights[members] / person_weights[members].sum()
        for person in np.flatnonzero(employee_dept == dept):
            external_contacts[person] = rng.choice(external_people, _N_EXTERNAL_CONTACTS, replace=False, p=w / w.sum())

    org = _Organisation(
        addresses=addresses_arr,
        sender_forms=sender_forms,
        domains=domains,
        domain_of=domain_of,
        outlook_style=rng.random(n_addresses) < 0.3,
        n_employees=n_employees,
        employee_dept=employee_dept,
        employee_activity=rng.lognormal(0, 0.5, n_employees),
        executives=np.array(executives),
        internal_contacts=internal_contacts,
        external_contacts=external_contacts,
        external_people=external_people,
        automated_ids=automated_ids,
        scheduled_ids=scheduled_ids,
        org_names=tuple(o for _d, o, kind, *_ in _EXTERNAL_DOMAINS if kind in ("customer", "partner")),
    )
    for value in vars(org).values():  # the cached organisation is shared between calls
        if isinstance(value, np.ndarray):
            value.flags.writeable = False
    return org


# --------------------------------------------------------------------------- calendar


@dataclass(frozen=True)
class _Calendar:
    first_day: np.datetime64
    n_days: int

    @functools.cached_property
    def dates(self) -> pd.DatetimeIndex:
        return pd.date_range(pd.Timestamp(self.first_day), periods=self.n_days, freq="D")

    @functools.cached_property
    def weekday(self) -> np.ndarray:
        return np.asarray(self.dates.dayofweek)

    @property
    def year(self) -> int:
        return int(self.dates[0].year)

    @functools.cached_property
    def month_labels(self) -> tuple[str, ...]:
        first, last = self.dates[0].to_period("M"), self.dates[-1].to_period("M")
        return tuple(m.strftime("%B %Y") for m in pd.period_range(first - 1, last + 1, freq="M"))

    @functools.cached_property
    def quarter_labels(self) -> tuple[str, ...]:
        first, last = self.dates[0].to_period("Q"), self.dates[-1].to_period("Q")
        return tuple(f"Q{q.quarter} {q.year}" for q in pd.period_range(first - 1, last + 1, freq="Q"))

    @functools.cached_property
    def day_labels(self) -> np.ndarray:
        return np.array([f"{d:%a} {d.day} {d:%b}" for d in self.dates], dtype=object)

    def day_weights(self, traffic: str) -> np.ndarray:
        weights = np.where(self.weekday < 5, 1.0, _WEEKEND_FACTOR[traffic])
        return weights / weights.sum()

    def sample_times(self, rng: np.random.Generator, size: int, traffic: str) -> np.ndarray:
        """Seconds since the first midnight, following the daily and weekly rhythm."""
        days = rng.choice(self.n_days, size, p=self.day_weights(traffic))
        hourly = np.asarray(_HOURLY[traffic], dtype=float)
        hours = rng.choice(24, size, p=hourly / hourly.sum())
        return days * _SECONDS_PER_DAY + hours * 3600 + rng.integers(0, 3600, size)

    @functools.cached_property
    def workdays(self) -> np.ndarray:
        workdays = np.flatnonzero(self.weekday < 5)
        return workdays if len(workdays) else np.arange(self.n_days)

    def business_time(self, rng: np.random.Generator, earliest=9 * 3600, latest=17 * 3600) -> int:
        day = self.workdays[rng.integers(len(self.workdays))]
        return int(day) * _SECONDS_PER_DAY + int(rng.integers(earliest, latest))


@functools.lru_cache(maxsize=1)
def _clock_strings() -> np.ndarray:
    """'HH:MM:SSZ' for every second of a day, so timestamps are built by lookup."""
    return np.array(
        [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}Z" for s in range(_SECONDS_PER_DAY)], dtype=object
    )


# --------------------------------------------------------------------------- normal traffic


@dataclass
class _Rows:
    time: np.ndarray  # int seconds since first midnight
    sender_id: np.ndarray  # address id, -1 if the sender is not in the organisation's address book
    sender: np.ndarray  # object
    recipient: np.ndarray  # object
    subject: np.ndarray  # object
    n_recipients: np.ndarray

    @staticmethod
    def concat(parts: list[_Rows]) -> _Rows:
        return _Rows(
            *(
                np.concatenate([getattr(p, f) for p in parts])
                for f in ("time", "sender_id", "sender", "recipient", "subject", "n_recipients")
            )
        )

    def __len__(self) -> int:
        return len(self.time)


def _monthly_dates(dates: pd.DatetimeIndex, day_of_month: int) -> set[pd.Timestamp]:
    """That day of every month, moved back to Friday when it falls on a weekend."""
    due = set()
    for month_start in dates.to_period("M").unique().to_timestamp():
        date = month_start + pd.Timedelta(days=day_of_month - 1)
        due.add(date - pd.Timedelta(days=max(0, date.dayofweek - 4)))
    return due


def _scheduled_mail(org: _Organisation, cal: _Calendar, rng: np.random.Generator) -> _Rows:
    dept = org.employee_dept
    everyone = np.arange(org.n_employees)
    audiences = {
        "all": everyone,
        "Sales": everyone[dept == _DEPT["Sales"]],
        "Engineering": everyone[dept == _DEPT["Engineering"]],
        "Engineering+IT": everyone[(dept == _DEPT["Engineering"]) | (dept == _DEPT["IT"])],
        "Finance": everyone[dept == _DEPT["Finance"]][:2],  # billing goes to accounts payable
    }
    chunks = {
        key: ["; ".join(org.addresses[ids[i : i + _LIST_CHUNK]]) for i in range(0, len(ids), _LIST_CHUNK)]
        for key, ids in audiences.items()
    }
    chunk_sizes = {
        key: [len(ids[i : i + _LIST_CHUNK]) for i in range(0, len(ids), _LIST_CHUNK)] for key, ids in audiences.items()
    }
    rows: dict[str, list] = {k: [] for k in ("time", "sender_id", "recipient", "subject", "n")}
    dates = cal.dates
    monthly_dates = {
        rule: _monthly_dates(dates, int(rule.split(":")[1]))
        for *_, rule, _at, _template in _SCHEDULED_FEEDS
        if rule.startswith("monthly:")
    }
    for feed, sender_id in zip(_SCHEDULED_FEEDS, org.scheduled_ids, strict=True):
        _display, _address, audience, rule, at_second, template = feed
        for day, date in enumerate(dates):
            weekday = date.dayofweek
            if rule == "weekdays":
                due = weekday < 5
            elif rule.startswith("monthly:"):
                due = date in monthly_dates[rule]
            else:
                due = weekday == ("monday", "tuesday", "wednesday", "thursday", "friday").index(rule)
            if not due:
                continue
            previous_month = date - pd.offsets.MonthBegin(1) - pd.Timedelta(days=1)
            subject = template.format(
                day_label=cal.day_labels[day],
                iso_date=f"{date:%Y-%m-%d}",
                week=date.isocalendar()[1],
                headline=_choice(rng, _HEADLINES),
                prev_month=f"{previous_month:%B %Y}",
                month_name=f"{date:%B %Y}",
                next_day_label=f"{date + pd.Timedelta(days=1):%d %b}",
            )
            start = day * _SECONDS_PER_DAY + at_second + int(rng.integers(0, 90))
            for i, (recipients, size) in enumerate(zip(chunks[audience], chunk_sizes[audience], strict=True)):
                rows["time"].append(start + 2 * i)
                rows["sender_id"].append(sender_id)
                rows["recipient"].append(recipients)
                rows["subject"].append(subject)
                rows["n"].append(size)
    sender_id = np.array(rows["sender_id"], dtype=np.int64)
    return _Rows(
        np.array(rows["time"], dtype=np.int64),
        sender_id,
        org.sender_forms[sender_id],
        np.array(rows["recipient"], dtype=object),
        np.array(rows["subject"], dtype=object),
        np.array(rows["n"], dtype=np.int64),
    )


def _recipient_counts(rng: np.random.Generator, size: int, category: str) -> np.ndarray:
    options = np.arange(1, _MAX_RECIPIENTS + 1)
    probabilities = {
        "internal": [0.70, 0.12, 0.07, 0.04, 0.03, 0.02, 0.01, 0.01],  # meetings invite several
        "outbound": [0.80, 0.12, 0.05, 0.03, 0, 0, 0, 0],
        "inbound": [0.75, 0.15, 0.07, 0.03, 0, 0, 0, 0],
        "automated": [0.92, 0.05, 0.03, 0, 0, 0, 0, 0],
    }[category]
    return rng.choice(options, size, p=probabilities)


def _pick_employees(org: _Organisation, rng: np.random.Generator, size: int, category: str) -> np.ndarray:
    dept_weight = np.array([_CATEGORY_DEPT_WEIGHT[category][d] for d in DEPARTMENTS])
    weights = dept_weight[org.employee_dept] * org.employee_activity
    return rng.choice(org.n_employees, size, p=weights / weights.sum())


def _conversation_and_automated(
    org: _Organisation, cal: _Calendar, n_rows: int, rng: np.random.Generator, pool_size: int
) -> _Rows:
    counts = dict(zip(_CATEGORY_SHARES, rng.multinomial(n_rows, list(_CATEGORY_SHARES.values())), strict=True))
    n_int, n_ext = _N_INTERNAL_CONTACTS, _N_EXTERNAL_CONTACTS
    # Contacts as one table: internal slots first, then external ones.
    contacts = np.concatenate([org.internal_contacts, org.external_contacts], axis=1)

    category_parts = []
    external_party = []  # per category: the outside correspondent of each row
    for category in ("internal", "outbound", "inbound"):
        size = counts[category]
        anchor = _pick_employees(org, rng, size, category)  # the employee whose habits drive the row
        if category == "internal":
            slot = _zipf_index(rng, size, n_int, 1.1)
        else:
            slot = n_int + _zipf_index(rng, size, n_ext, 0.9)
        other = contacts[anchor, slot]
        sender, first_rcpt = (other, anchor) if category == "inbound" else (anchor, other)
        traffic = "inbound" if category == "inbound" else "human"
        category_parts.append(
            dict(
                anchor=anchor,
                slot=slot,
                sender=sender,
                first=first_rcpt,
                k=_recipient_counts(rng, size, category),
                time=cal.sample_times(rng, size, traffic),
                category=np.full(size, category, dtype=object),
            )
        )
        external_party.append(None if category == "internal" else other)

    # Subjects: internal mail from the sender's department pool, external from a pool per
    # (department, external domain) so a customer's threads stay recognisable.
    n_depts = len(DEPARTMENTS)
    internal_pool = np.array(
        [
            s
            for dept in DEPARTMENTS
            for s in _subject_pool(rng, _INTERNAL_SUBJECTS[dept], pool_size, cal, org.org_names)
        ],
        dtype=object,
    )
    external_pool_size = int(np.clip(pool_size // 25, 12, 80))
    org_name_of_domain = {d: o for d, o, *_ in _EXTERNAL_DOMAINS}
    n_domains = len(org.domains)
    external_pool = np.empty(n_depts * n_domains * external_pool_size, dtype=object)
    for di, dept in enumerate(DEPARTMENTS):
        for mi, domain in enumerate(org.domains):
            if domain in org_name_of_domain:
                start = (di * n_domains + mi) * external_pool_size
                external_pool[start : start + external_pool_size] = _subject_pool(
                    rng, _EXTERNAL_SUBJECTS[dept], external_pool_size, cal, org.org_names, org_name_of_domain[domain]
                )
    for part, outsider in zip(category_parts, external_party, strict=True):
        dept = org.employee_dept[part["anchor"]]
        size = len(dept)
        if outsider is None:
            subject = internal_pool[dept * pool_size + _zipf_index(rng, size, pool_size, 0.8)]
            dated = rng.random(size) < _DATED_SUBJECT_SHARE
            dated_prefix = np.array(
                [_choice(rng, _DATED_SUBJECTS[DEPARTMENTS[d]]) for d in range(n_depts)], dtype=object
            )
            subject[dated] = dated_prefix[dept[dated]] + " - " + cal.day_labels[part["time"][dated] // _SECONDS_PER_DAY]
        else:
            domain = org.domain_of[outsider]
            subject = external_pool[
                (dept * n_domains + domain) * external_pool_size + _zipf_index(rng, size, external_pool_size, 0.8)
            ]
        part["subject"] = subject

    # Automated notifications to their usual audience.
    size = counts["automated"]
    volume = np.array([entry[3] for entry in _AUTOMATED_SENDERS])
    which = rng.choice(len(_AUTOMATED_SENDERS), size, p=volume / volume.sum())
    anchor = np.empty(size, dtype=np.int64)
    subject = np.empty(size, dtype=object)
    auto_pool_size = int(np.clip(pool_size, 20, 1500))
    for s, (_display, _address, audience, _volume, templates) in enumerate(_AUTOMATED_SENDERS):
        rows = np.flatnonzero(which == s)
        dept_weight = np.array([audience.get(d, 0.0) for d in DEPARTMENTS])
        weights = dept_weight[org.employee_dept]
        anchor[rows] = rng.choice(org.n_employees, len(rows), p=weights / weights.sum())
        pool = np.array(_subject_pool(rng, templates, auto_pool_size, cal, org.org_names), dtype=object)
        subject[rows] = pool[_zipf_index(rng, len(rows), auto_pool_size, 0.7)]
    sender = org.automated_ids[which]
    time = cal.sample_times(rng, size, "automated")
    # In-house systems (helpdesk, expenses) write when their human operators work.
    in_house = np.isin(org.domain_of[sender], [org.domains.index(d) for d in INTERNAL_DOMAINS])
    time[in_house] = cal.sample_times(rng, int(in_house.sum()), "human")
    category_parts.append(
        dict(
            anchor=anchor,
            slot=np.full(size, -1),
            sender=sender,
            first=anchor,
            k=_recipient_counts(rng, size, "automated"),
            time=time,
            subject=subject,
            category=np.full(size, "automated", dtype=object),
        )
    )

    columns = {key: np.concatenate([p[key] for p in category_parts]) for key in category_parts[0]}
    order = np.argsort(columns["time"], kind="stable")
    columns = {key: value[order] for key, value in columns.items()}
    _turn_into_replies_and_forwards(org, columns, rng)
    return _with_recipient_strings(org, columns, contacts, rng)


def _turn_into_replies_and_forwards(org: _Organisation, rows: dict, rng: np.random.Generator) -> None:
    """Rewrite some person-to-person rows as replies/forwards of an earlier message."""
    human = np.flatnonzero(rows["category"] != "automated")
    hour = rows["time"][human] // 3600 % 24
    if len(human) < 2:
        return
    # Replies come from people, so only rows in working hours are rewritten.
    roll = rng.random(len(human))
    eligible = (hour >= 7) & (hour < 20) & (np.arange(len(human)) > 0)
    is_reply = eligible & (roll < _REPLY_SHARE)
    is_forward = eligible & (roll >= _REPLY_SHARE) & (roll < _REPLY_SHARE + _FORWARD_SHARE)
    # Answer something from the last few hours (offset in person-to-person rows).
    rows_per_hour = max(2.0, len(human) / max(1, rows["time"][-1] // 3600 + 1) * 3)
    offset = rng.geometric(1 / rows_per_hour, len(human))
    source = human[np.maximum(np.arange(len(human)) - offset, 0)]

    base_sender, base_first, base_subject = rows["sender"].copy(), rows["first"].copy(), rows["subject"].copy()
    is_employee = np.arange(len(org.addresses)) < org.n_employees

    target = human[is_reply]
    replier = base_first[source[is_reply]]
    rows["sender"][target] = replier
    rows["first"][target] = base_sender[source[is_reply]]
    rows["anchor"][target] = np.where(is_employee[replier], replier, rows["first"][target])
    rows["slot"][target] = -1
    rows["k"][target] = np.where(rng.random(len(target)) < 0.8, 1, rows["k"][source[is_reply]])
    rows["category"][target] = "reply"
    reply_prefix = np.where(org.outlook_style[replier], "RE: ", "Re: ").astype(object)
    rows["subject"][target] = reply_prefix + base_subject[source[is_reply]]

    target = human[is_forward]
    src = source[is_forward]
    forwarder = np.where(is_employee[base_first[src]], base_first[src], base_sender[src])
    slot = _zipf_index(rng, len(target), _N_INTERNAL_CONTACTS, 1.1)
    rows["sender"][target] = forwarder
    rows["first"][target] = org.internal_contacts[forwarder, slot]
    rows["anchor"][target] = forwarder
    rows["slot"][target] = slot
    rows["k"][target] = 1
    rows["category"][target] = "forward"
    forward_prefix = np.where(org.outlook_style[forwarder], "FW: ", "Fwd: ").astype(object)
    rows["subject"][target] = forward_prefix + base_subject[src]


def _with_recipient_strings(org: _Organisation, rows: dict, contacts: np.ndarray, rng: np.random.Generator) -> _Rows:
    """Add distinct co-recipients from the anchor's contacts and render the Recipient field."""
    recipient = org.addresses[rows["first"]]
    n_recipients = np.ones(len(recipient), dtype=np.int64)
    multi = np.flatnonzero(rows["k"] > 1)
    if len(multi):
        n_slots = contacts.shape[1]
        keys = rng.random((len(multi), n_slots))
        # Only outbound mail copies external contacts; everything else copies colleagues.
        external_allowed = rows["category"][multi] == "outbound"
        keys[:, _N_INTERNAL_CONTACTS:] += np.where(external_allowed, 0.0, 10.0)[:, None]
        used_slot = rows["slot"][multi]
        has_slot = used_slot >= 0
        keys[np.flatnonzero(has_slot), used_slot[has_slot]] = np.inf  # already the first recipient
        n_extra = rows["k"][multi] - 1
        max_extra = int(n_extra.max())
        extra_slots = np.argsort(keys, axis=1)[:, :max_extra]
        extra = contacts[rows["anchor"][multi][:, None], extra_slots]
        wanted = np.arange(max_extra)[None, :] < n_extra[:, None]
        wanted &= extra != rows["first"][multi][:, None]
        wanted &= extra != rows["sender"][multi][:, None]
        multi_recipient = recipient[multi]
        for column in range(max_extra):
            take = wanted[:, column]
            multi_recipient[take] = multi_recipient[take] + "; " + org.addresses[extra[take, column]]
        recipient[multi] = multi_recipient
        n_recipients[multi] += wanted.sum(axis=1)
    return _Rows(
        rows["time"].astype(np.int64),
        rows["sender"].astype(np.int64),
        org.sender_forms[rows["sender"]],
        recipient,
        rows["subject"],
        n_recipients,
    )


def _normal_traffic(org: _Organisation, cal: _Calendar, n_rows: int, rng: np.random.Generator) -> _Rows:
    scheduled = _scheduled_mail(org, cal, rng)
    if len(scheduled) > n_rows:  # tiny logs: keep a random subset of the feeds
        keep = np.sort(rng.choice(len(scheduled), n_rows, replace=False))
        scheduled = _Rows(
            *(
                getattr(scheduled, f)[keep]
                for f in ("time", "sender_id", "sender", "recipient", "subject", "n_recipients")
            )
        )
    n_rest = n_rows - len(scheduled)
    if n_rest == 0:
        return scheduled
    pool_size = int(np.clip(n_rows // 150, 60, 2000))
    return _Rows.concat([scheduled, _conversation_and_automated(org, cal, n_rest, rng, pool_size)])


# --------------------------------------------------------------------------- anomalies


def _anomaly_budget(n_rows: int, anomaly_rate: float) -> dict[str, int]:
    total = int(round(n_rows * anomaly_rate))
    shares = np.array(list(_ANOMALY_SHARES.values()))
    counts = np.floor(shares * total).astype(int)
    counts[np.argsort(-(shares * total - counts))[: total - counts.sum()]] += 1  # largest remainders
    budget = dict(zip(_ANOMALY_SHARES, counts.tolist(), strict=True))
    if anomaly_rate > 0 and n_rows >= _MIN_ROWS_FOR_EVERY_KIND:
        for kind in budget:
            budget[kind] = max(budget[kind], _MIN_BURST_ROWS if kind == "sender_burst" else 1)
    elif budget["sender_burst"] < 5:  # fewer rows are no burst: give them to phishing instead
        budget["phishing_subject"] += budget["sender_burst"]
        budget["sender_burst"] = 0
    return budget


class _AnomalyWriter:
    def __init__(self, org: _Organisation, cal: _Calendar, normal: _Rows, rng: np.random.Generator):
        self.org, self.cal, self.normal, self.rng = org, cal, normal, rng
        self.known_addresses = set(org.addresses.tolist())
        self.known_domains = set(org.domains)
        self.rows: dict[str, list] = {k: [] for k in ("time", "sender", "recipient", "subject", "kind")}
        dept = org.employee_dept
        self.ordinary_staff = np.flatnonzero(dept != _DEPT["Executive"])

    def emit(self, time: int, sender: str, recipient: str, subject: str, kind: str) -> None:
        for key, value in zip(self.rows, (time, sender, recipient, subject, kind), strict=True):
            self.rows[key].append(value)

    def fill(self, template: str, org_name: str = "") -> str:
        return template.format_map(_Filler(self.rng, self.cal, self.org.org_names, org_name))

    def person_name(self) -> tuple[str, str]:
        return _choice(self.rng, _FIRST_NAMES), _choice(self.rng, _LAST_NAMES)

    def new_address(self, local: str, domain: str) -> str:
        """An address never seen in the log so far."""
        address, n = f"{local}@{domain}", 2
        while address in self.known_addresses:
            address, n = f"{local}{n}@{domain}", n + 1
        self.known_addresses.add(address)
        return address

    def new_domain(self, words, tlds, hyphen=True) -> str:
        while True:
            parts = _choice(self.rng, words, 2)
            domain = ("-" if hyphen else "").join(parts) + f".{_choice(self.rng, tlds)}"
            if parts[0] != parts[1] and domain not in self.known_domains:
                return domain

    def freemail_address(self) -> str:
        first, last = self.person_name()
        local = _local_part(first, last, _choice(self.rng, ("first.last", "first_last", "flast")))
        return self.new_address(f"{local}{self.rng.integers(1, 9999)}", _choice(self.rng, _FREEMAIL_DOMAINS))

    # -- kinds

    def after_hours_bulk(self, n_rows: int) -> None:
        org, rng = self.org, self.rng
        while n_rows > 0:
            sender = int(rng.choice(self.ordinary_staff))
            day = int(rng.integers(self.cal.n_days))
            start = day * _SECONDS_PER_DAY + int(rng.integers(1800, 4 * 3600))  # 00:30 - 04:00
            subject = self.fill(_choice(rng, _AFTER_HOURS_SUBJECTS))
            for message in range(min(n_rows, int(rng.integers(1, 4)))):
                n_recipients = int(rng.integers(15, 61))
                n_external = int(round(n_recipients * rng.uniform(0.6, 1.0)))
                recipients = list(org.addresses[rng.choice(org.external_people, n_external, replace=False)])
                recipients += [self.freemail_address() for _ in range(int(rng.integers(0, 4)))]
                recipients += list(org.addresses[rng.choice(org.n_employees, n_recipients - n_external, replace=False)])
                rng.shuffle(recipients)
                self.emit(
                    start + message * int(rng.integers(20, 180)),
                    org.sender_forms[sender],
                    "; ".join(recipients),
                    subject,
                    "after_hours_bulk",
                )
                n_rows -= 1

    def lookalike_domain(self, n_rows: int) -> None:
        """Copy an ordinary single-recipient message and swap in a look-alike sender domain."""
        org, rng, normal = self.org, self.rng, self.normal
        known = normal.sender_id >= 0
        sender_domain = np.where(known, org.domain_of[np.maximum(normal.sender_id, 0)], -1)
        frequency = np.bincount(sender_domain[known], minlength=len(org.domains))
        frequent = np.argsort(-frequency, kind="stable")[:12]
        frequent = frequent[frequency[frequent] > 0]
        weights = np.sqrt(frequency[frequent])
        forbidden = self.known_domains | set(_FREEMAIL_DOMAINS)
        # Copy single-recipient messages sent in weekday business hours, and keep
        # them in their slot (dated subjects stay consistent with the date).
        second_of_day = normal.time % _SECONDS_PER_DAY
        ordinary = (
            (normal.n_recipients == 1)
            & (second_of_day >= 9 * 3600)
            & (second_of_day < 17 * 3600)
            & (self.cal.weekday[normal.time // _SECONDS_PER_DAY] < 5)
        )
        variants: dict[int, list[str]] = {}  # a few look-alikes per impersonated domain
        candidates: dict[int, np.ndarray] = {}
        for domain_id in rng.choice(frequent, n_rows, p=weights / weights.sum()).tolist():
            domain = org.domains[domain_id]
            if domain_id not in variants:
                variants[domain_id] = [_lookalike_of(domain, rng, forbidden) for _ in range(3)]
                same_domain = sender_domain == domain_id
                candidates[domain_id] = np.flatnonzero(same_domain & ordinary)
                if len(candidates[domain_id]) == 0:
                    candidates[domain_id] = np.flatnonzero(same_domain)
            lookalike = _choice(rng, variants[domain_id])
            original = int(rng.choice(candidates[domain_id]))
            sender = normal.sender[original].replace(f"@{domain}", f"@{lookalike}")
            time = int(normal.time[original]) + int(rng.integers(-1800, 1800))
            self.emit(
                min(max(time, 0), self.cal.n_days * _SECONDS_PER_DAY - 1),
                sender,
                normal.recipient[original],
                normal.subject[original],
                "lookalike_domain",
            )

    def first_time_sender_to_exec(self, n_rows: int) -> None:
        org, rng = self.org, self.rng
        ceo_first, ceo_last, _ = _EXECUTIVES[0]
        for _ in range(n_rows):
            target = int(rng.choice(len(_EXECUTIVES), p=_EXEC_TARGET_WEIGHTS))
            impersonate_ceo = target != 0 and rng.random() < 0.4
            first, last = (ceo_first, ceo_last) if impersonate_ceo else self.person_name()
            if rng.random() < 0.6:
                local = _local_part(first, last, _choice(rng, ("first.last", "first_last", "flast")))
                address = self.new_address(f"{local}{rng.integers(1, 999)}", _choice(rng, _FREEMAIL_DOMAINS))
            else:
                address = self.new_address(
                    _local_part(first, last, "first.last"),
                    self.new_domain(_FRAUD_DOMAIN_WORDS, ("com", "net", "co", "biz")),
                )
            sender = f"{first} {last} <{address}>" if rng.random() < 0.8 else address
            subject = self.fill(_choice(rng, _EXEC_FRAUD_SUBJECTS), _choice(rng, org.org_names))
            self.emit(
                self.cal.business_time(rng),
                sender,
                org.addresses[org.executives[target]],
                subject,
                "first_time_sender_to_exec",
            )

    def phishing_subject(self, n_rows: int) -> None:
        org, rng = self.org, self.rng
        campaign_senders = []
        for _ in range(max(1, n_rows // 4)):
            address = self.new_address(_choice(rng, _PHISHING_LOCAL_PARTS), self.new_domain(_SHADY_WORDS, _SHADY_TLDS))
            campaign_senders.append(
                f"{_choice(rng, _PHISHING_DISPLAY_NAMES)} <{address}>" if rng.random() < 0.7 else address
            )
        for _ in range(n_rows):
            recipients = org.addresses[rng.choice(self.ordinary_staff, int(rng.integers(1, 4)), replace=False)]
            self.emit(
                self.cal.business_time(rng, 8 * 3600, 18 * 3600),
                _choice(rng, campaign_senders),
                "; ".join(recipients),
                self.fill(_choice(rng, _PHISHING_SUBJECTS)),
                "phishing_subject",
            )

    def sender_burst(self, n_rows: int) -> None:
        org, rng = self.org, self.rng
        sizes = []
        while n_rows > 0:
            size = int(rng.integers(20, 61))
            if n_rows - size < 20:  # no tail too small to be a burst
                size = n_rows if n_rows <= 60 else n_rows - 20
            sizes.append(size)
            n_rows -= size
        for size in sizes:
            if rng.random() < 0.5:  # a compromised internal account, ordinary-looking subject
                sender_id = int(rng.choice(self.ordinary_staff))
                sender = org.sender_forms[sender_id]
                dept = DEPARTMENTS[org.employee_dept[sender_id]]
                subject = self.fill(_choice(rng, _INTERNAL_SUBJECTS[dept]))
                pool = np.concatenate([org.external_people, np.arange(org.n_employees)])
                pool = pool[pool != sender_id]
            else:  # an outside mass mailer
                address = self.new_address(
                    _choice(rng, ("info", "news", "contact", "sales")),
                    self.new_domain(_SHADY_WORDS, ("com", "net", "biz")),
                )
                sender = address
                subject = _choice(rng, _BURST_SUBJECTS_EXTERNAL)
                pool = np.arange(org.n_employees)
            recipients = org.addresses[rng.choice(pool, min(size, len(pool)), replace=False)]
            recipients = np.resize(recipients, size)
            start = self.cal.business_time(rng, 8 * 3600, 17 * 3600)
            offsets = np.sort(rng.integers(0, int(rng.integers(90, 420)), size))
            for offset, recipient in zip(offsets, recipients, strict=True):
                self.emit(start + int(offset), sender, recipient, subject, "sender_burst")

    def result(self) -> dict[str, np.ndarray]:
        return {key: np.array(values, dtype=np.int64 if key == "time" else object) for key, values in self.rows.items()}


# --------------------------------------------------------------------------- public API


def _uuid_strings(rng: np.random.Generator, n: int) -> np.ndarray:
    """UUID-4-formatted strings from the seeded generator (uuid.uuid4 would not be reproducible)."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    hex_digits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    nibbles = np.empty((n, 32), dtype=np.uint8)
    nibbles[:, 0::2] = hex_digits[raw >> 4]
    nibbles[:, 1::2] = hex_digits[raw & 0x0F]
    text = np.full((n, 36), ord("-"), dtype=np.uint8)
    for start, stop, out in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        text[:, out : out + stop - start] = nibbles[:, start:stop]
    joined = text.tobytes().decode("ascii")
    return np.array([joined[i : i + 36] for i in range(0, 36 * n, 36)], dtype=object)


def _first_day(start: str) -> np.datetime64:
    stamp = pd.Timestamp(start)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return np.datetime64(stamp.normalize().date(), "D")


def make_demo_log(
    n_rows: int = 5000, *, seed: int = 0, anomaly_rate: float = 0.02, start: str = "2026-10-05"
) -> pd.DataFrame:
    """Synthetic mail-gateway log of Northwind Traders with labeled anomalies.

    Returns ``n_rows`` rows sorted by ``Time Processed`` with the columns
    ``UUID, Recipient, Sender, Subject, Time Processed, label, anomaly_kind``.
    About ``anomaly_rate`` of the rows are injected anomalies (``label == 1``,
    ``anomaly_kind`` one of :data:`ANOMALY_KINDS`); for ``n_rows >= 500`` and a
    positive rate every kind is present, which may push the share slightly above
    ``anomaly_rate`` for small logs. The same ``seed`` gives the same frame.
    """
    if isinstance(n_rows, bool) or not isinstance(n_rows, (int, np.integer)) or n_rows < 0:
        raise ValueError(f"n_rows must be a non-negative integer, got {n_rows!r}")
    if not 0.0 <= anomaly_rate <= 0.5:
        raise ValueError(f"anomaly_rate must be between 0 and 0.5, got {anomaly_rate!r}")
    n_rows = int(n_rows)
    first_day = _first_day(start)
    if n_rows == 0:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == "label" else "str") for c in COLUMNS})

    rng = np.random.default_rng(seed)
    budget = _anomaly_budget(n_rows, anomaly_rate)
    n_normal = n_rows - sum(budget.values())
    head_count, n_days = _plan_size(n_normal)
    org = _build_organisation(head_count)
    cal = _Calendar(first_day, n_days)

    normal = _normal_traffic(org, cal, n_normal, rng)
    writer = _AnomalyWriter(org, cal, normal, rng)
    for kind in ANOMALY_KINDS:
        if budget[kind]:
            getattr(writer, kind)(budget[kind])
    anomalies = writer.result()

    time = np.concatenate([normal.time, anomalies["time"]])
    order = np.argsort(time, kind="stable")
    time = time[order]
    day_prefix = (cal.first_day + np.arange(n_days + 1)).astype(str).astype(object) + "T"
    n_anomalies = len(anomalies["time"])
    columns = {
        "UUID": _uuid_strings(rng, n_rows),
        "Recipient": np.concatenate([normal.recipient, anomalies["recipient"]])[order],
        "Sender": np.concatenate([normal.sender, anomalies["sender"]])[order],
        "Subject": np.concatenate([normal.subject, anomalies["subject"]])[order],
        "Time Processed": day_prefix[time // _SECONDS_PER_DAY] + _clock_strings()[time % _SECONDS_PER_DAY],
        "label": np.concatenate([np.zeros(len(normal), np.int64), np.ones(n_anomalies, np.int64)])[order],
        "anomaly_kind": np.concatenate([np.full(len(normal), "", dtype=object), anomalies["kind"]])[order],
    }
    return pd.DataFrame(columns, columns=list(COLUMNS))


#: Headers of an Exchange Online message-trace CSV (``Get-MessageTrace | Export-Csv``), in its order.
MESSAGE_TRACE_COLUMNS = (
    "Received",
    "SenderAddress",
    "RecipientAddress",
    "Subject",
    "Status",
    "ToIP",
    "FromIP",
    "Size",
    "MessageId",
    "MessageTraceId",
)


def message_trace(log: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """A log (``make_demo_log`` columns) as a Microsoft 365 message trace lists it: one row per
    recipient, every row of a message sharing its ``MessageId``; ``Received`` in US format
    (``MM/DD/YYYY hh:mm:ss AM``); a ``label`` column is kept, per row. Write it with
    ``to_csv(index=False, quoting=csv.QUOTE_ALL)`` for the export's quoting."""
    from core.features import recipient_lists

    rng = np.random.default_rng(seed)
    recipients = recipient_lists(log["Recipient"]).map(lambda r: r or [""])
    rows = log.assign(RecipientAddress=recipients).explode("RecipientAddress", ignore_index=True)
    times = pd.to_datetime(rows["Time Processed"], utc=True, format="ISO8601")
    trace = pd.DataFrame(
        {
            "Received": times.dt.strftime("%m/%d/%Y %I:%M:%S %p"),
            "SenderAddress": rows["Sender"].str.extract(r"([^<\s]+@[^>\s]+)", expand=False).fillna(rows["Sender"]),
            "RecipientAddress": rows["RecipientAddress"],
            "Subject": rows["Subject"],
            "Status": "Delivered",
            "ToIP": "",
            "FromIP": "",
            "Size": rng.integers(2_000, 400_000, len(rows)).astype(str),
            "MessageId": "<" + rows["UUID"].astype(str) + "@northwind-traders.com>",
            "MessageTraceId": _uuid_strings(rng, len(rows)),
        }
    )
    if "label" in rows:
        trace["label"] = rows["label"].to_numpy()
    return trace
