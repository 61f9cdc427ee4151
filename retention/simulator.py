"""A seeded simulator of e-commerce behaviour, written in the platform's data contract.

It is the embedded demo data and the ground truth for the churn and uplift benchmarks.

The generative story
--------------------
*Catalogue.* Items belong to ~20 categories of uneven size. Each item has a Zipf-like global
popularity, a lognormal price around its category's median, and a title built from the category's
vocabulary (adjective + feature + noun), so title embeddings cluster by category. Each item has five
"successor" items (four from its own category, one from a complementary category): within a session
the next view follows the previous item's successors half of the time, which gives sequence models
signal beyond matrix factorisation.

*Users.* Session rates are lognormal (many light users, a few very active ones). Sign-ups mostly
happen before the window; the rest sign up during it and start with a session right away. Category
tastes come from a Dirichlet with a per-user, mostly low, concentration (some users are focused, some
broad) and drift slowly from day to day. Each user has a price sensitivity in [0, 1].

*Days.* Each day every alive, signed-up user has Poisson(rate x engagement) sessions, where engagement
is a slowly mean-reverting latent multiplier. A session is a geometric number of item views (mean
4.5): the next item follows the previous one's successors, or is a fresh draw, either from what the
product shows (global popularity) or from the user's tastes. Each view may lead to a click, a cart
add and a purchase on the same item, less often for price-sensitive users and expensive items.
Sessions start at a diurnal time of day; events are a few seconds to minutes apart.

*Churn.* Each morning an alive user churns with a daily hazard that grows as their recent activity (an
EWMA of sessions) falls below their own baseline rate, as the relevance of what the product shows
(cosine between their tastes and the category mix of the most popular items) falls, for new users,
and for users acquired through ads. A churned user produces no more events.

*Ground truth* (never read by a model or feature): the churn date, the final daily hazard, the implied
30-day churn probability, each intervention's true relative effect on the hazard (coupons help
price-sensitive users, recommendation pushes help users with strong tastes, care messages help
long-tenured users; ~12% of users are annoyed by any contact), and the latent traits.

Everything is drawn from one ``np.random.default_rng(seed)`` in a fixed order, so one spec always gives
identical data. Loops run over days and over positions within a session, never over users or events.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import uuid
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from retention.config import Simulation

EVENT_TYPES = ("view", "click", "add_to_cart", "purchase")
EVENT_COLUMNS = ["event_id", "user_id", "item_id", "event_type", "ts", "value", "session_id"]
FORMATS = ("parquet", "csv")

SECONDS_PER_DAY = 86_400
MICROS = 1_000_000

# Catalogue
ZIPF_EXPONENT = 1.1
PRICE_SIGMA = 0.5
SUCCESSOR_PROBS = np.array([0.35, 0.25, 0.17, 0.13, 0.10])  # the last successor is the complementary one
FOLLOW_SUCCESSOR = 0.5
SHOWN_BY_PRODUCT = 0.25  # share of fresh views drawn from global popularity (what the product shows)
TOP_SHOWN_SHARE = 0.05  # "what the product shows": the top 5 % of items by popularity

# Users and sessions
RATE_MEDIAN = 0.13  # sessions per day
RATE_SIGMA = 1.0
MEAN_VIEWS = 4.5
ENGAGEMENT_RHO = 0.95
ENGAGEMENT_SIGMA = 0.15
TASTE_DRIFT_RHO = 0.98
TASTE_DRIFT_SIGMA = 0.08
EWMA_ALPHA = 0.1
WINDOW_SIGNUP_SHARE = 0.15
HOURLY_PROFILE = np.array(
    [2, 1.2, 0.8, 0.6, 0.6, 0.8, 1.5, 2.5, 3.5, 4, 4.2, 4.5, 5, 4.8, 4.5, 4.3, 4.5, 5, 6, 7, 7.5, 7, 5.5, 3.5]
)

# Churn hazard: logit(h) = B0 + B_ENG * disengagement + B_REL * (1 - relevance) + B_NEW * newness + channel
HAZARD_B0 = -6.5
HAZARD_ENGAGEMENT = 2.6
HAZARD_RELEVANCE = 1.6
HAZARD_NEW_USER = 0.8
NEW_USER_DAYS = 30.0

COUNTRIES = ("US", "GB", "DE", "FR", "BR", "IN", "CA", "JP")
COUNTRY_PROBS = (0.35, 0.12, 0.12, 0.09, 0.1, 0.1, 0.07, 0.05)
CHANNELS = ("organic", "ads", "referral", "social")
CHANNEL_PROBS = (0.45, 0.3, 0.15, 0.1)
CHANNEL_HAZARD = np.array([0.0, 0.3, -0.2, 0.1])

# Intervention effects: relative change of the daily hazard (negative = the arm helps)
COUPON_EFFECT = 0.45
RECOMMENDATION_EFFECT = 0.40
CARE_EFFECT = 0.35
CARE_FULL_TENURE_DAYS = 730.0
CONTACT_AVERSE_SHARE = 0.12


@dataclass(frozen=True)
class Category:
    name: str
    median_price: float
    complement: str
    adjectives: tuple[str, ...]
    features: tuple[str, ...]
    nouns: tuple[str, ...]


def _words(words: str) -> tuple[str, ...]:
    return tuple(w.strip() for w in words.split(","))


def _cat(name: str, price: float, complement: str, adjectives: str, features: str, nouns: str) -> Category:
    return Category(name, price, complement, _words(adjectives), _words(features), _words(nouns))


CATEGORIES: tuple[Category, ...] = (
    _cat(
        "electronics", 80, "games",
        "Wireless, Portable, Smart, Compact, Ultra-Slim, Pro",
        "Noise-Cancelling, Bluetooth, 4K, USB-C, Fast-Charging, HD",
        "Headphones, Speaker, Monitor, Charger, Webcam, Earbuds, Keyboard, Power Bank",
    ),
    _cat(
        "books", 15, "office",
        "Illustrated, Complete, Pocket, Annotated, Bestselling, Classic",
        "Mystery, Science Fiction, History, Cookbook, Poetry, Fantasy",
        "Novel, Anthology, Guide, Collection, Memoir, Handbook, Box Set, Paperback",
    ),
    _cat(
        "kitchen", 35, "grocery",
        "Nonstick, Stainless, Cast-Iron, Ceramic, Electric, Professional",
        "Steel, Bamboo, Glass, Silicone, Copper, Enamel",
        "Frying Pan, Knife Set, Blender, Cutting Board, Dutch Oven, Kettle, Mixing Bowls, Spatula",
    ),
    _cat(
        "garden", 30, "outdoor",
        "Heavy-Duty, Ergonomic, Weatherproof, Cordless, Organic, Raised",
        "Steel, Cedar, Solar, Drip, Telescopic, Compost",
        "Hose, Pruning Shears, Planter, Rake, Seed Kit, Watering Can, Trowel, Garden Bed",
    ),
    _cat(
        "toys", 25, "baby",
        "Colorful, Interactive, Wooden, Magnetic, Plush, Educational",
        "Building, Puzzle, Remote-Control, Musical, Stacking, Glow-in-the-Dark",
        "Blocks, Robot, Teddy Bear, Race Car, Doll House, Train Set, Jigsaw, Kite",
    ),
    _cat(
        "fashion", 45, "jewelry",
        "Slim-Fit, Oversized, Vintage, Classic, Lightweight, Waterproof",
        "Cotton, Linen, Denim, Wool, Leather, Cashmere",
        "Jacket, T-Shirt, Jeans, Sweater, Dress, Sneakers, Scarf, Hoodie",
    ),
    _cat(
        "sports", 40, "health",
        "Adjustable, Lightweight, Breathable, Pro, Foldable, Shock-Absorbing",
        "Carbon, Neoprene, Mesh, Foam, Grip, Compression",
        "Yoga Mat, Dumbbells, Running Shoes, Tennis Racket, Jump Rope, Resistance Bands, Football, "
        "Water Bottle",
    ),
    _cat(
        "beauty", 20, "health",
        "Hydrating, Gentle, Matte, Long-Lasting, Vegan, Radiant",
        "Vitamin C, Hyaluronic, Rosewater, Charcoal, Argan Oil, SPF 50",
        "Serum, Moisturizer, Lipstick, Face Mask, Cleanser, Eyeliner, Shampoo, Perfume",
    ),
    _cat(
        "music", 25, "electronics",
        "Acoustic, Electric, Vintage, Studio, Beginner, Handmade",
        "Maple, Rosewood, Nylon-String, Digital, Analog, Tube",
        "Guitar, Ukulele, Synthesizer, Microphone, Drum Pad, Vinyl Record, Guitar Strings, Amplifier",
    ),
    _cat(
        "games", 50, "electronics",
        "Collector's, Deluxe, Cooperative, Strategy, Retro, Limited",
        "Fantasy, Racing, Puzzle, Adventure, Party, Sci-Fi",
        "Board Game, Video Game, Card Game, Controller, Game Bundle, Dice Set, Console Skin, Gaming Headset",
    ),
    _cat(
        "pets", 22, "home",
        "Durable, Cozy, Orthopedic, Chewable, Automatic, Grain-Free",
        "Rope, Fleece, Catnip, Salmon, Chicken, Memory Foam",
        "Dog Bed, Cat Tree, Leash, Pet Food, Litter Box, Chew Toy, Aquarium, Bird Feeder",
    ),
    _cat(
        "office", 18, "books",
        "Ergonomic, Refillable, Adjustable, Magnetic, Recycled, Executive",
        "Gel, Mesh, Bamboo, Leather, Whiteboard, Cork",
        "Desk Chair, Notebook, Pen Set, Stapler, Desk Organizer, Planner, Monitor Stand, Filing Cabinet",
    ),
    _cat(
        "outdoor", 60, "sports",
        "Waterproof, Ultralight, Insulated, Packable, Rugged, All-Season",
        "Down, Ripstop, Titanium, Gore-Tex, Merino, LED",
        "Tent, Sleeping Bag, Backpack, Headlamp, Camping Stove, Hiking Boots, Hammock, Trekking Poles",
    ),
    _cat(
        "baby", 30, "toys",
        "Soft, Organic, Hypoallergenic, Foldable, Gentle, Portable",
        "Cotton, Muslin, Bamboo, BPA-Free, Silicone, Fleece",
        "Onesie, Stroller, Baby Bottle, Swaddle, Teether, Crib Sheet, Diaper Bag, Play Mat",
    ),
    _cat(
        "health", 18, "sports",
        "Daily, Natural, Sugar-Free, Digital, Advanced, Travel",
        "Multivitamin, Omega-3, Probiotic, Protein, Magnesium, Electrolyte",
        "Supplement, Capsules, Powder, Blood Pressure Monitor, Thermometer, First Aid Kit, Massage Gun, "
        "Gummies",
    ),
    _cat(
        "automotive", 40, "electronics",
        "Heavy-Duty, Universal, Portable, Cordless, Premium, All-Weather",
        "Microfiber, LED, Ceramic, Carbon, Lithium, Rubber",
        "Floor Mats, Jump Starter, Dash Cam, Car Vacuum, Tire Inflator, Wiper Blades, Seat Covers, "
        "Phone Mount",
    ),
    _cat(
        "grocery", 8, "kitchen",
        "Organic, Fair-Trade, Gluten-Free, Roasted, Wholegrain, Artisan",
        "Dark Chocolate, Arabica, Almond, Green Tea, Olive, Honey",
        "Coffee Beans, Granola, Pasta, Olive Oil, Snack Box, Tea Bags, Peanut Butter, Crackers",
    ),
    _cat(
        "home", 45, "kitchen",
        "Cozy, Minimalist, Scented, Handwoven, Modern, Rustic",
        "Linen, Velvet, Oak, Soy Wax, Jute, Marble",
        "Throw Blanket, Candle, Rug, Lamp, Cushion, Picture Frame, Vase, Curtains",
    ),
    _cat(
        "jewelry", 70, "fashion",
        "Elegant, Handcrafted, Delicate, Vintage, Minimalist, Statement",
        "Sterling Silver, Gold-Plated, Pearl, Rose Gold, Gemstone, Diamond",
        "Necklace, Earrings, Bracelet, Ring, Pendant, Anklet, Brooch, Watch",
    ),
    _cat(
        "crafts", 15, "office",
        "Beginner, Deluxe, Assorted, Handmade, Washable, Professional",
        "Acrylic, Watercolor, Yarn, Origami, Embroidery, Clay",
        "Paint Set, Sketchbook, Knitting Kit, Brush Set, Sewing Kit, Bead Kit, Canvas Pack, Glue Gun",
    ),
)  # fmt: skip
N_CATEGORIES = len(CATEGORIES)


# The config's `simulation` section is the simulator's spec: users, items, days, seed, start_date.
SimulationSpec = Simulation


@dataclass
class SimulatedData:
    events: pd.DataFrame  # contract columns, sorted by ts
    items: pd.DataFrame
    users: pd.DataFrame
    ground_truth: pd.DataFrame


# --------------------------------------------------------------------------------------------------
# Catalogue


@dataclass(frozen=True)
class _CategorySampler:
    """Popularity-weighted draws of an item within a given category, vectorised with one searchsorted."""

    by_category: np.ndarray  # item indices sorted by category
    keys: np.ndarray  # category + cumulative popularity share within it, aligned with by_category

    @classmethod
    def build(cls, category: np.ndarray, popularity: np.ndarray) -> _CategorySampler:
        by_category = np.lexsort((-popularity, category))
        sorted_cat = category[by_category]
        cum = np.cumsum(popularity[by_category])
        starts = np.searchsorted(sorted_cat, np.arange(N_CATEGORIES))
        mass_before = np.concatenate([[0.0], cum])[starts][sorted_cat]
        within = (cum - mass_before) / np.bincount(category, popularity, N_CATEGORIES)[sorted_cat]
        within[np.append(starts[1:], len(category)) - 1] = 1.0  # exact 1.0 at each category's end
        return cls(by_category, sorted_cat + within)

    def draw(self, rng: np.random.Generator, categories: np.ndarray) -> np.ndarray:
        u = np.minimum(rng.random(len(categories)), 1 - 1e-9)
        pos = np.searchsorted(self.keys, categories + u, side="right")
        return self.by_category[np.minimum(pos, len(self.by_category) - 1)]


@dataclass(frozen=True)
class _Catalog:
    category: np.ndarray  # (items,) category index
    popularity: np.ndarray  # (items,) global popularity, sums to 1
    price: np.ndarray  # (items,)
    title: np.ndarray  # (items,) object
    successors: np.ndarray  # (items, 5) item indices, strongest first
    shown_mix: np.ndarray  # (categories,) unit-norm category mix of the items the product shows
    sampler: _CategorySampler

    def draw_in_category(self, rng: np.random.Generator, categories: np.ndarray) -> np.ndarray:
        return self.sampler.draw(rng, categories)

    def draw_popular(self, rng: np.random.Generator, n: int) -> np.ndarray:
        cdf = np.cumsum(self.popularity)
        return np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"), len(cdf) - 1)


def _build_catalog(rng: np.random.Generator, n_items: int) -> _Catalog:
    """Categories, popularity, prices, titles and successor lists: the first draws of `simulate`."""
    if n_items < N_CATEGORIES:
        raise ValueError(f"simulation needs at least {N_CATEGORIES} items, got {n_items}")
    shares = rng.dirichlet(np.full(N_CATEGORIES, 1.5))
    rest = rng.choice(N_CATEGORIES, n_items - N_CATEGORIES, p=shares)
    category = np.concatenate([np.arange(N_CATEGORIES), rest])  # every category has an item
    popularity = (rng.permutation(n_items) + 1.0) ** -ZIPF_EXPONENT
    popularity /= popularity.sum()

    medians = np.array([c.median_price for c in CATEGORIES])
    price = np.round(np.maximum(medians[category] * rng.lognormal(0, PRICE_SIGMA, n_items), 0.99), 2)
    title = _titles(rng, category)
    sampler = _CategorySampler.build(category, popularity)
    successors = _successors(rng, category, sampler)

    top = np.argsort(-popularity, kind="stable")[: max(10, int(TOP_SHOWN_SHARE * n_items))]
    mix = np.bincount(category[top], minlength=N_CATEGORIES).astype(float)
    return _Catalog(
        category=category,
        popularity=popularity,
        price=price,
        title=title,
        successors=successors,
        shown_mix=mix / np.linalg.norm(mix),
        sampler=sampler,
    )


def _titles(rng: np.random.Generator, category: np.ndarray) -> np.ndarray:
    """Adjective + feature + noun from the category's vocabulary."""
    picks = rng.random((len(category), 3))
    titles = np.empty(len(category), dtype=object)
    for c, cat in enumerate(CATEGORIES):
        idx = np.flatnonzero(category == c)
        words = [
            np.array(vocab, dtype=object)[(picks[idx, j] * len(vocab)).astype(int)]
            for j, vocab in enumerate((cat.adjectives, cat.features, cat.nouns))
        ]
        titles[idx] = words[0] + " " + words[1] + " " + words[2]
    return titles


def _successors(rng: np.random.Generator, category: np.ndarray, sampler: _CategorySampler) -> np.ndarray:
    """Four popular same-category items and one from the complementary category, never the item itself."""
    n = len(category)
    index = {c.name: i for i, c in enumerate(CATEGORIES)}
    complement = np.array([index[c.complement] for c in CATEGORIES])
    wanted = np.column_stack([np.repeat(category[:, None], 4, axis=1), complement[category]])
    successors = sampler.draw(rng, wanted.ravel()).reshape(n, 5)
    for _ in range(5):  # redraw self-loops; a one-item category keeps them
        clash = successors == np.arange(n)[:, None]
        if not clash.any():
            break
        successors[clash] = sampler.draw(rng, wanted[clash])
    return successors


# --------------------------------------------------------------------------------------------------
# Users


@dataclass(frozen=True)
class _Users:
    rate: np.ndarray  # baseline sessions per day
    price_sensitivity: np.ndarray
    base_taste: np.ndarray  # (users, categories), rows sum to 1
    taste_strength: np.ndarray  # 1 - normalised entropy of base_taste
    signup_day: np.ndarray  # day index of sign-up; negative = before the window
    signup_second: np.ndarray  # second of the sign-up day, for users who signed up before the window
    country: np.ndarray
    channel: np.ndarray  # index into CHANNELS


def _build_users(rng: np.random.Generator, n: int, days: int) -> _Users:
    rate = np.clip(RATE_MEDIAN * rng.lognormal(0, RATE_SIGMA, n), 0.005, 6.0)
    price_sensitivity = rng.beta(2.0, 2.5, n)

    prior = 0.5 / N_CATEGORIES + 0.5 * rng.dirichlet(np.full(N_CATEGORIES, 2.0))
    concentration = rng.lognormal(np.log(2.0), 1.0, n)
    gammas = rng.gamma(concentration[:, None] * prior[None, :]) + 1e-6
    taste = gammas / gammas.sum(axis=1, keepdims=True)
    entropy = -(taste * np.log(taste)).sum(axis=1)
    taste_strength = np.clip(1 - entropy / np.log(N_CATEGORIES), 0.0, 1.0)

    in_window = rng.random(n) < WINDOW_SIGNUP_SHARE
    tenure = np.minimum(1 + rng.exponential(300, n).astype(int), 1500)
    signup_day = np.where(in_window, rng.integers(0, days, n), -tenure)
    signup_second = rng.integers(0, SECONDS_PER_DAY, n)
    country = rng.choice(len(COUNTRIES), n, p=COUNTRY_PROBS)
    channel = rng.choice(len(CHANNELS), n, p=CHANNEL_PROBS)
    return _Users(rate, price_sensitivity, taste, taste_strength, signup_day, signup_second, country, channel)


# --------------------------------------------------------------------------------------------------
# Daily dynamics


@dataclass
class _State:
    alive: np.ndarray
    churn_day: np.ndarray  # -1 while alive
    log_engagement: np.ndarray
    ewma_sessions: np.ndarray
    taste_drift: np.ndarray  # (users, categories) log-space deviation from the base taste
    last_hazard: np.ndarray


def _initial_state(rng: np.random.Generator, users: _Users) -> _State:
    n = len(users.rate)
    stationary_sd = ENGAGEMENT_SIGMA / np.sqrt(1 - ENGAGEMENT_RHO**2)
    taste_sd = TASTE_DRIFT_SIGMA / np.sqrt(1 - TASTE_DRIFT_RHO**2)
    return _State(
        alive=np.ones(n, dtype=bool),
        churn_day=np.full(n, -1),
        log_engagement=rng.normal(0, stationary_sd, n),
        ewma_sessions=users.rate.copy(),
        taste_drift=rng.normal(0, taste_sd, users.base_taste.shape),
        last_hazard=np.zeros(n),
    )


def _tastes(users: _Users, state: _State) -> np.ndarray:
    weights = users.base_taste * np.exp(state.taste_drift)
    return weights / weights.sum(axis=1, keepdims=True)


def _hazard(users: _Users, state: _State, taste: np.ndarray, catalog: _Catalog, day: int) -> np.ndarray:
    """Daily churn hazard of every user from their current state."""
    disengagement = np.clip(1 - state.ewma_sessions / users.rate, 0.0, 1.0)
    relevance = (taste @ catalog.shown_mix) / np.linalg.norm(taste, axis=1)
    newness = np.exp(-np.maximum(day - users.signup_day, 0) / NEW_USER_DAYS)
    logit = (
        HAZARD_B0
        + HAZARD_ENGAGEMENT * disengagement
        + HAZARD_RELEVANCE * (1 - relevance)
        + HAZARD_NEW_USER * newness
        + CHANNEL_HAZARD[users.channel]
    )
    return 1 / (1 + np.exp(-logit))


def _advance(rng: np.random.Generator, users: _Users, state: _State, sessions: np.ndarray, day: int) -> None:
    """End of day: update the activity EWMA of signed-up users, engagement and taste drift."""
    signed_up = users.signup_day <= day
    ewma = (1 - EWMA_ALPHA) * state.ewma_sessions + EWMA_ALPHA * sessions
    state.ewma_sessions = np.where(signed_up, ewma, state.ewma_sessions)
    engagement_shock = rng.normal(0, ENGAGEMENT_SIGMA, len(sessions))
    state.log_engagement = ENGAGEMENT_RHO * state.log_engagement + engagement_shock
    taste_shock = rng.normal(0, TASTE_DRIFT_SIGMA, state.taste_drift.shape)
    state.taste_drift = TASTE_DRIFT_RHO * state.taste_drift + taste_shock


@dataclass
class _DayEvents:
    user: np.ndarray
    item: np.ndarray
    kind: np.ndarray  # index into EVENT_TYPES
    ts_us: np.ndarray
    session: np.ndarray  # global session number


def _session_events(
    rng: np.random.Generator, catalog: _Catalog, users: _Users, taste: np.ndarray, session_user: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray]:
    """Views and funnel events of a day's sessions: (session, item, kind, offset seconds) and durations."""
    n = len(session_user)
    length = rng.geometric(1 / MEAN_VIEWS, n)
    clock = np.zeros(n)
    prev = np.full(n, -1)
    cumtaste = np.cumsum(taste, axis=1)
    out: list[list[np.ndarray]] = [[], [], [], []]
    for pos in range(int(length.max(initial=0))):
        live = np.flatnonzero(length > pos)
        user = session_user[live]
        item = _next_items(rng, catalog, cumtaste[user], prev[live], pos)
        prev[live] = item
        view_at = clock[live] + (rng.exponential(60, len(live)) + 3 if pos else 0)
        step = _funnel(rng, catalog, users, taste, user, item, view_at)
        for kind, (mask, at) in enumerate(step):
            out[0].append(live[mask])
            out[1].append(item[mask])
            out[2].append(np.full(mask.sum(), kind, dtype=np.int8))
            out[3].append(at[mask])
        clock[live] = np.max([np.where(m, at, view_at) for m, at in step], axis=0)
    return [np.concatenate(parts) for parts in out], clock


def _next_items(
    rng: np.random.Generator, catalog: _Catalog, cumtaste: np.ndarray, prev: np.ndarray, pos: int
) -> np.ndarray:
    n = len(prev)
    category = np.minimum((cumtaste < rng.random(n)[:, None]).sum(axis=1), N_CATEGORIES - 1)
    item = catalog.draw_in_category(rng, category)
    shown = rng.random(n) < SHOWN_BY_PRODUCT
    item[shown] = catalog.draw_popular(rng, int(shown.sum()))
    if pos:
        follow = rng.random(n) < FOLLOW_SUCCESSOR
        slot = rng.choice(len(SUCCESSOR_PROBS), int(follow.sum()), p=SUCCESSOR_PROBS)
        item[follow] = catalog.successors[prev[follow], slot]
    return item


def _funnel(
    rng: np.random.Generator,
    catalog: _Catalog,
    users: _Users,
    taste: np.ndarray,
    user: np.ndarray,
    item: np.ndarray,
    view_at: np.ndarray,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """view -> click -> add_to_cart -> purchase on one item: (happened, time) per event type."""
    n = len(item)
    affinity = taste[user, catalog.category[item]] / taste[user].max(axis=1)
    sensitivity = users.price_sensitivity[user]
    # Price relative to the category median, so a costly book counts as expensive but a cheap TV does not.
    medians = np.array([c.median_price for c in CATEGORIES])[catalog.category[item]]
    dearness = np.clip(np.log(catalog.price[item] / medians), -1.5, 1.5)
    p_click = 0.2 + 0.3 * affinity
    p_cart = 0.27 - 0.05 * sensitivity
    p_buy = np.clip(0.55 - 0.25 * sensitivity - 0.2 * sensitivity * dearness, 0.05, 0.9)

    click = rng.random(n) < p_click
    cart = click & (rng.random(n) < p_cart)
    buy = cart & (rng.random(n) < p_buy)
    click_at = view_at + 2 + rng.exponential(8, n)
    cart_at = click_at + 3 + rng.exponential(30, n)
    buy_at = cart_at + 10 + rng.exponential(60, n)
    return [(np.ones(n, dtype=bool), view_at), (click, click_at), (cart, cart_at), (buy, buy_at)]


def _simulate_day(
    rng: np.random.Generator,
    catalog: _Catalog,
    users: _Users,
    taste: np.ndarray,
    sessions: np.ndarray,
    day_start_us: int,
    first_session: int,
) -> _DayEvents:
    session_user = np.repeat(np.arange(len(sessions)), sessions)
    (session, item, kind, offset), duration = _session_events(rng, catalog, users, taste, session_user)
    hour = rng.choice(24, len(session_user), p=HOURLY_PROFILE / HOURLY_PROFILE.sum())
    start = hour * 3600 + rng.random(len(session_user)) * 3600
    # Sessions finish before midnight, so every event of a session falls on the session's day.
    start = np.maximum(np.minimum(start, SECONDS_PER_DAY - 1 - duration), 0)
    seconds = start[session] + offset
    keep = seconds < SECONDS_PER_DAY
    ts_us = day_start_us + np.round(seconds[keep] * MICROS).astype(np.int64)
    order = np.argsort(ts_us, kind="stable")
    return _DayEvents(
        user=session_user[session[keep]][order],
        item=item[keep][order],
        kind=kind[keep][order],
        ts_us=ts_us[order],
        session=(first_session + session[keep])[order],
    )


# --------------------------------------------------------------------------------------------------
# Public API


def simulate(spec: SimulationSpec) -> SimulatedData:
    """Simulate the behaviour history described in the module docstring."""
    if spec.users < 1 or spec.days < 1:
        raise ValueError(f"simulation needs at least one user and one day, got {spec}")
    rng = np.random.default_rng(spec.seed)
    catalog = _build_catalog(rng, spec.items)
    users = _build_users(rng, spec.users, spec.days)
    state = _initial_state(rng, users)
    start_us = _epoch_us(spec.start_date)

    days: list[_DayEvents] = []
    n_sessions = 0
    for day in range(spec.days):
        taste = _tastes(users, state)
        hazard = _hazard(users, state, taste, catalog, day)
        at_risk = state.alive & (users.signup_day < day)
        churn = at_risk & (rng.random(spec.users) < hazard)
        state.last_hazard = np.where(at_risk, hazard, state.last_hazard)
        state.churn_day[churn] = day
        state.alive &= ~churn

        acting = state.alive & (users.signup_day <= day)
        sessions = np.where(acting, rng.poisson(users.rate * np.exp(state.log_engagement)), 0)
        sessions[users.signup_day == day] += 1  # a new user starts right after signing up
        day_start_us = start_us + day * SECONDS_PER_DAY * MICROS
        days.append(_simulate_day(rng, catalog, users, taste, sessions, day_start_us, n_sessions))
        n_sessions += int(sessions.sum())
        _advance(rng, users, state, sessions, day)

    final = _hazard(users, state, _tastes(users, state), catalog, spec.days)
    state.last_hazard = np.where(state.alive, final, state.last_hazard)

    history = _DayEvents(*(np.concatenate([getattr(d, f.name) for d in days]) for f in fields(_DayEvents)))
    return SimulatedData(
        events=_events_frame(history, catalog, spec.users, n_sessions),
        items=_items_frame(catalog),
        users=_users_frame(rng, users, history, start_us),
        ground_truth=_ground_truth(rng, spec, users, state),
    )


def write_dataset(data: SimulatedData, out: Path, fmt: str = "parquet") -> dict[str, int]:
    """Write the dataset under `out` in the data contract layout, replacing `out` atomically.

    Layout: ``items.<ext>``, ``users.<ext>``, ``events/date=YYYY-MM-DD/events.<ext>`` (one per UTC day
    with events) and ``ground_truth/users.parquet``. Returns ``{"users", "items", "events", "days"}``
    counts, where "days" is the number of day partitions written.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {FORMATS}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        tmp.chmod(0o755)
        _write_table(data.items, tmp / f"items.{fmt}", fmt)
        _write_table(data.users, tmp / f"users.{fmt}", fmt)
        n_days = _write_events(data.events, tmp / "events", fmt)
        (tmp / "ground_truth").mkdir()
        _write_table(data.ground_truth, tmp / "ground_truth" / "users.parquet", "parquet")
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"users": len(data.users), "items": len(data.items), "events": len(data.events), "days": n_days}


# --------------------------------------------------------------------------------------------------
# Frames


def _epoch_us(day: dt.date) -> int:
    return int((day - dt.date(1970, 1, 1)).days) * SECONDS_PER_DAY * MICROS


def _names(prefix: str, n: int, width: int) -> pa.Array:
    """Prefixed, zero-padded 1-based ids ("u00001", ...) with at least `width` digits."""
    width = max(width, len(str(n)))
    digits = pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n + 1)), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _strings(values: pa.Array | np.ndarray) -> pd.arrays.ArrowStringArray:
    return pd.array(values, dtype="str")


def _utc(ts_us: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(ts_us.astype("datetime64[us]")).tz_localize("UTC")


def _events_frame(history: _DayEvents, catalog: _Catalog, n_users: int, n_sessions: int) -> pd.DataFrame:
    is_purchase = history.kind == EVENT_TYPES.index("purchase")
    return pd.DataFrame(
        {
            "event_id": _strings(_names("e", len(history.kind), 9)),
            "user_id": _strings(_names("u", n_users, 5).take(pa.array(history.user))),
            "item_id": _strings(_names("i", len(catalog.category), 4).take(pa.array(history.item))),
            "event_type": _strings(np.array(EVENT_TYPES, dtype=object)[history.kind]),
            "ts": _utc(history.ts_us),
            "value": np.where(is_purchase, catalog.price[history.item], 0.0).astype(np.float64),
            "session_id": _strings(_names("s", n_sessions, 8).take(pa.array(history.session))),
        }
    )


def _items_frame(catalog: _Catalog) -> pd.DataFrame:
    names = np.array([c.name for c in CATEGORIES], dtype=object)
    return pd.DataFrame(
        {
            "item_id": _strings(_names("i", len(catalog.category), 4)),
            "title": _strings(catalog.title),
            "category": _strings(names[catalog.category]),
            "price": catalog.price.astype(np.float64),
        }
    )


def _users_frame(rng: np.random.Generator, users: _Users, history: _DayEvents, start_us: int) -> pd.DataFrame:
    """Users who signed up during the window did so shortly before their first event."""
    n = len(users.rate)
    day_us = SECONDS_PER_DAY * MICROS
    signup_us = start_us + users.signup_day * day_us + users.signup_second.astype(np.int64) * MICROS
    first_us = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_us, history.user, history.ts_us)
    lead_us = (rng.uniform(10, 600, n) * MICROS).astype(np.int64)
    in_window = users.signup_day >= 0
    has_event = first_us < np.iinfo(np.int64).max
    day_start = start_us + np.maximum(users.signup_day, 0) * day_us
    from_event = np.maximum(first_us - lead_us, day_start)
    signup_us = np.where(in_window & has_event, from_event, signup_us)
    return pd.DataFrame(
        {
            "user_id": _strings(_names("u", n, 5)),
            "signup_ts": _utc(signup_us),
            "country": _strings(np.array(COUNTRIES, dtype=object)[users.country]),
            "acquisition_channel": _strings(np.array(CHANNELS, dtype=object)[users.channel]),
        }
    )


def _effects(rng: np.random.Generator, spec: SimulationSpec, users: _Users) -> dict[str, np.ndarray]:
    """True relative effect of each intervention arm on a user's daily hazard (negative = helps)."""
    n = spec.users
    tenure_share = np.minimum((spec.days - users.signup_day) / CARE_FULL_TENURE_DAYS, 1.0)
    drivers = {
        "effect_recommendation": RECOMMENDATION_EFFECT * users.taste_strength,
        "effect_coupon": COUPON_EFFECT * users.price_sensitivity,
        "effect_care_message": CARE_EFFECT * tenure_share,
    }
    effects = {
        name: -driver * np.clip(rng.normal(1.0, 0.25, n), 0.2, None) for name, driver in drivers.items()
    }
    averse = rng.random(n) < CONTACT_AVERSE_SHARE  # any contact annoys them, whatever the arm
    return {name: np.where(averse, rng.uniform(0.05, 0.3, n), effect) for name, effect in effects.items()}


def _ground_truth(
    rng: np.random.Generator, spec: SimulationSpec, users: _Users, state: _State
) -> pd.DataFrame:
    churned_on = [spec.start_date + dt.timedelta(days=int(d)) if d >= 0 else None for d in state.churn_day]
    return pd.DataFrame(
        {
            "user_id": _strings(_names("u", spec.users, 5)),
            "churned_on": pd.Series(churned_on, dtype=object),
            "true_hazard": state.last_hazard,
            "true_churn_prob_30d": 1 - (1 - state.last_hazard) ** 30,
            **_effects(rng, spec, users),
            "price_sensitivity": users.price_sensitivity,
            "taste_strength": users.taste_strength,
            "activity_rate": users.rate,
        }
    )


# --------------------------------------------------------------------------------------------------
# Files


def _to_arrow(df: pd.DataFrame, fmt: str) -> pa.Table:
    table = pa.Table.from_pandas(df, preserve_index=False)
    if fmt == "csv":
        for i, field in enumerate(table.schema):
            if pa.types.is_timestamp(field.type):
                iso = pc.strftime(table.column(i), format="%Y-%m-%dT%H:%M:%SZ")
                table = table.set_column(i, field.name, iso)
    return table


def _write_table(df: pd.DataFrame | pa.Table, path: Path, fmt: str) -> None:
    table = df if isinstance(df, pa.Table) else _to_arrow(df, fmt)
    if fmt == "parquet":
        pq.write_table(table, path)
    else:
        pa_csv.write_csv(table, path)


def _write_events(events: pd.DataFrame, root: Path, fmt: str) -> int:
    """One file per UTC day; relies on events being sorted by ts."""
    table = _to_arrow(events, fmt)
    root.mkdir()
    if not len(events):
        return 0
    day = pd.DatetimeIndex(events["ts"]).as_unit("us").asi8 // (SECONDS_PER_DAY * MICROS)
    bounds = np.flatnonzero(np.diff(day)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.append(bounds, len(day))
    for lo, hi in zip(starts, ends, strict=True):
        folder = root / f"date={np.datetime64(int(day[lo]), 'D')}"
        folder.mkdir(parents=True)
        _write_table(table.slice(lo, hi - lo), folder / f"events.{fmt}", fmt)
    return len(starts)


def _replace_dir(new: Path, out: Path) -> None:
    if not out.exists():
        new.rename(out)
        return
    old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
    out.rename(old)
    new.rename(out)
    shutil.rmtree(old, ignore_errors=True)
