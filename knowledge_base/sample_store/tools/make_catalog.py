"""Generate catalog.csv for the Northwind Outfitters sample store.

Usage (from anywhere):

    python knowledge_base/sample_store/tools/make_catalog.py

The catalog is built from hand-written product templates per category (all brands
are fictional) plus a seeded random generator for stock levels, so the output is
identical on every run. Columns:

    sku,title,category,price,currency,stock,attributes,description

``attributes`` is a JSON object; ``stock`` 0 means out of stock. A few clearance
items are final sale (price ending in .97, ``"final_sale": true``), matching the
store's Returns Policy. Electronics carry ``store_warranty_years`` matching the
Warranty Policy (2 years for laptops, phones and tablets, 1 year for other
electronics), and products larger than 100 Wh or containing fuel are marked
``"ships_to": "contiguous US only"`` as in the Shipping Policy.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "catalog.csv"
HEADER = ["sku", "title", "category", "price", "currency", "stock", "attributes", "description"]

SEED = 42
rng = random.Random(SEED)
ROWS: list[dict] = []
_counters: dict[str, int] = {}

CONTIGUOUS_ONLY = "contiguous US only"


def charm(x: float) -> float:
    """Round to a retail price ending in 9 (e.g. 743 -> 749.00, 47.3 -> 49.00)."""
    if x < 100:
        return max(round(x) - 0.01, 4.99) if x < 20 else round(x / 5) * 5 - 1.0
    return round(x / 10) * 10 - 1.0


def stock_level() -> int:
    r = rng.random()
    if r < 0.08:
        return 0
    if r < 0.25:
        return rng.randint(1, 9)
    return rng.randint(10, 240)


def add(code: str, category: str, title: str, price: float, attrs: dict, desc: str) -> None:
    _counters[code] = _counters.get(code, 0) + 1
    sku = f"NW-{code}-{_counters[code]:04d}"
    ROWS.append(
        {
            "sku": sku,
            "title": title,
            "category": category,
            "price": f"{price:.2f}",
            "currency": "USD",
            "stock": stock_level(),
            "attributes": attrs,
            "description": desc,
        }
    )


def title_color(c: str) -> str:
    return " ".join(w.capitalize() for w in c.split())


# --------------------------------------------------------------------------- Laptops
LAPTOPS = [
    # base = price of the base_cfg (ram_gb, ssd_gb); other configs are priced from it.
    # student=True lines get "student_pick" when the configuration is under $800.
    dict(brand="Corvid", line="Go 14", screen=14.0, res="1920x1080", cores=6, gpu="integrated", weight=1.45,
         battery=10, os="Windows 11 Home", base=549, base_cfg=(8, 256),
         configs=[(8, 256, "silver"), (8, 256, "slate blue"), (16, 512, "silver"), (16, 512, "slate blue")],
         blurb="An affordable everyday laptop with a full-size backlit keyboard and a 1080p webcam, a good fit for students taking notes, writing papers and joining online classes.",
         student=True),
    dict(brand="Aster", line="Book 15", screen=15.6, res="1920x1080", cores=4, gpu="integrated", weight=1.7,
         battery=8, os="Windows 11 Home", base=429, base_cfg=(8, 256),
         configs=[(8, 256, "charcoal"), (8, 512, "charcoal"), (16, 512, "charcoal")],
         blurb="A budget-friendly 15.6-inch laptop with a numeric keypad and a matte anti-glare screen, ideal for students and home offices that need spreadsheets and video calls.",
         student=True),
    dict(brand="Halden", line="Chromebook 14", screen=14.0, res="1920x1080", cores=4, gpu="integrated", weight=1.35,
         battery=12, os="ChromeOS", base=329, base_cfg=(4, 64),
         configs=[(4, 64, "arctic white"), (8, 128, "arctic white"), (8, 128, "graphite")],
         blurb="A fast-booting Chromebook with automatic updates and built-in virus protection; a popular choice for high-school and college students who work mostly in the browser.",
         student=True),
    dict(brand="Meridian", line="Flex 14 2-in-1", screen=14.0, res="1920x1200 touch", cores=8, gpu="integrated",
         weight=1.5, battery=12, os="Windows 11 Home", base=699, base_cfg=(8, 256),
         configs=[(8, 256, "mist gray"), (16, 512, "mist gray")],
         blurb="A convertible laptop whose 360-degree hinge turns it into a tablet; the included active pen makes it great for handwritten lecture notes and sketching.",
         student=True),
    dict(brand="Corvid", line="Air 13", screen=13.3, res="2560x1600", cores=8, gpu="integrated", weight=1.12,
         battery=15, os="Windows 11 Home", base=899, base_cfg=(16, 512),
         configs=[(16, 512, "silver"), (16, 512, "midnight"), (16, 1024, "midnight"), (32, 1024, "silver")],
         blurb="An ultralight aluminum laptop that weighs just 1.12 kg and runs silently thanks to its fanless design.",
         student=False),
    dict(brand="Halden", line="Slate 14", screen=14.0, res="1920x1200", cores=10, gpu="integrated", weight=1.3,
         battery=14, os="Windows 11 Pro", base=1099, base_cfg=(16, 512),
         configs=[(16, 512, "graphite"), (32, 1024, "graphite")],
         blurb="A business laptop with a fingerprint reader, webcam privacy shutter and a spill-resistant keyboard, tested for durability against drops and vibration.",
         student=False),
    dict(brand="Vantor", line="Blaze 15", screen=15.6, res="1920x1080 165 Hz", cores=8, gpu="dedicated 8 GB",
         weight=2.3, battery=6, os="Windows 11 Home", base=1199, base_cfg=(16, 512),
         configs=[(16, 512, "black"), (16, 1024, "black"), (32, 1024, "black")],
         blurb="A gaming laptop with a 165 Hz display, per-key RGB keyboard and a dual-fan cooling system that keeps frame rates steady in long sessions.",
         student=False),
    dict(brand="Vantor", line="Blaze 17", screen=17.3, res="2560x1440 240 Hz", cores=14, gpu="dedicated 12 GB",
         weight=2.8, battery=5, os="Windows 11 Home", base=1899, base_cfg=(32, 1024),
         configs=[(32, 1024, "black"), (32, 2048, "black")],
         blurb="A desktop-replacement gaming laptop with a 240 Hz QHD screen and a 12 GB graphics card for high settings in the latest games.",
         student=False),
    dict(brand="Corvid", line="Pro 16", screen=16.0, res="3200x2000", cores=12, gpu="dedicated 8 GB", weight=2.05,
         battery=11, os="Windows 11 Pro", base=1699, base_cfg=(32, 1024),
         configs=[(32, 1024, "space gray"), (64, 2048, "space gray")],
         blurb="A workstation for photo and video editing with a factory-calibrated 100% DCI-P3 display and an SD card reader.",
         student=False),
    dict(brand="Meridian", line="Studio 16 OLED", screen=16.0, res="3840x2400 OLED", cores=14, gpu="dedicated 8 GB",
         weight=1.95, battery=10, os="Windows 11 Pro", base=2199, base_cfg=(32, 1024),
         configs=[(32, 1024, "platinum"), (64, 2048, "platinum")],
         blurb="A 4K OLED creator laptop with true blacks, HDR support and a haptic touchpad large enough for precise timeline editing.",
         student=False),
]


def gen_laptops() -> None:
    cat = "Laptops"
    for m in LAPTOPS:
        multi_color = len({c for _, _, c in m["configs"]}) > 1
        r0, s0 = m["base_cfg"]
        for ram, ssd, color in m["configs"]:
            price = charm(m["base"] + (ram - r0) * 12.5 + (ssd - s0) * 0.2)
            storage = f"{ssd // 1024}TB" if ssd >= 1024 else f"{ssd}GB"
            drive = "eMMC" if m["os"] == "ChromeOS" else "SSD"
            title = f"{m['brand']} {m['line']} Laptop, {ram}GB RAM, {storage} {drive}"
            if multi_color:
                title += f", {title_color(color)}"
            attrs = {
                "brand": m["brand"], "ram_gb": ram, "storage_gb": ssd, "storage_type": drive,
                "screen_in": m["screen"], "resolution": m["res"], "cpu_cores": m["cores"], "gpu": m["gpu"],
                "os": m["os"], "weight_kg": m["weight"], "battery_hours": m["battery"], "color": color,
                "store_warranty_years": 2,
            }
            if m["student"] and price < 800:
                attrs["student_pick"] = True
            desc = (f"{m['blurb']} This configuration pairs {ram} GB of RAM with {ssd if ssd < 1024 else ssd // 1024} "
                    f"{'GB' if ssd < 1024 else 'TB'} of {drive} storage in {'an' if color[0] in 'aeiou' else 'a'} {color} finish, and lasts up to "
                    f"{m['battery']} hours on a charge.")
            add("LAP", cat, title, price, attrs, desc)


# --------------------------------------------------------------------------- Phones & Tablets
def gen_phones() -> None:
    cat = "Phones & Tablets"
    phones = [
        ("Lumen", "9", 6.1, 50, 4500, 8, 699, [(128, "glacier white"), (128, "onyx black"), (256, "onyx black"), (256, "sage")],
         "A compact flagship with a bright 120 Hz OLED display, 7 years of software updates and a 50 MP main camera with night mode."),
        ("Lumen", "9 Pro", 6.7, 50, 5000, 12, 999, [(256, "titanium"), (512, "titanium"), (1024, "graphite")],
         "The top Lumen model, with a triple camera system including a 5x periscope telephoto lens, 8K video and 45 W fast charging."),
        ("Orbit", "A5", 6.5, 48, 5000, 4, 249, [(128, "midnight"), (128, "ocean blue")],
         "A dependable budget smartphone with a two-day battery, headphone jack and microSD slot for up to 1 TB of extra storage."),
        ("Orbit", "A7", 6.6, 64, 5000, 6, 379, [(128, "forest green"), (256, "midnight")],
         "A mid-range phone with a 90 Hz display, optical image stabilization and stereo speakers that punches well above its price."),
        ("Kestrel", "X2 Rugged", 6.3, 48, 6500, 8, 549, [(256, "olive")],
         "A rugged phone rated IP69 and MIL-STD-810H, with a glove-mode touchscreen and a programmable side button for push-to-talk; built for job sites and the backcountry."),
    ]
    for brand, model, screen, mp, mah, ram, base, variants, blurb in phones:
        for storage, color in variants:
            price = charm(base + (storage - variants[0][0]) * 0.39)
            st = f"{storage // 1024}TB" if storage >= 1024 else f"{storage}GB"
            title = f"{brand} {model} 5G Smartphone, {st}, {title_color(color)} (Unlocked)"
            attrs = {"brand": brand, "type": "smartphone", "storage_gb": storage, "ram_gb": ram, "screen_in": screen,
                     "camera_mp": mp, "battery_mah": mah, "network": "5G", "unlocked": True, "color": color,
                     "store_warranty_years": 2}
            desc = f"{blurb} Unlocked for all major US carriers, with {st} of storage."
            add("PHN", cat, title, price, attrs, desc)

    tablets = [
        ("Nimbus", "Tab 11", 11.0, "2000x1200", 349, [(128, "storm gray"), (256, "storm gray"), (128, "rose gold")],
         "An 11-inch tablet for streaming, reading and homework, with quad speakers and support for the Nimbus Stylus."),
        ("Nimbus", "Tab 13 Pro", 13.0, "2880x1920 OLED", 899, [(256, "storm gray"), (512, "storm gray")],
         "A 13-inch OLED tablet that snaps onto the Nimbus Keyboard Folio to become a lightweight laptop replacement."),
        ("Nimbus", "Tab Mini 8", 8.4, "1920x1200", 229, [(64, "sky blue"), (128, "storm gray")],
         "A one-hand 8-inch tablet that fits in a jacket pocket, with parental controls and a kids' profile mode."),
    ]
    for brand, model, screen, res, base, variants, blurb in tablets:
        for storage, color in variants:
            price = charm(base + (storage - variants[0][0]) * 0.78)
            title = f"{brand} {model} Tablet, Wi-Fi, {storage}GB, {title_color(color)}"
            attrs = {"brand": brand, "type": "tablet", "storage_gb": storage, "screen_in": screen, "resolution": res,
                     "connectivity": "Wi-Fi 6", "color": color, "store_warranty_years": 2}
            add("PHN", cat, title, price, attrs, f"{blurb} Wi-Fi model with {storage} GB of storage.")

    for storage, color, price in [(16, "charcoal", 139.0), (32, "sandstone", 169.0)]:
        attrs = {"brand": "Pagewise", "type": "e-reader", "storage_gb": storage, "screen_in": 7.0,
                 "display": "E Ink, 300 ppi", "water_rating": "IPX8", "battery_weeks": 8, "color": color,
                 "store_warranty_years": 2}
        add("PHN", cat, f"Pagewise Glow 7 E-Reader, {storage}GB, {title_color(color)}", price, attrs,
            f"A glare-free 7-inch E Ink reader with a warm adjustable front light and up to 8 weeks of battery life. "
            f"Waterproof to IPX8, so it survives the bath, the pool and a rainy campsite; holds thousands of books in {storage} GB.")

    accessories = [
        ("Voltline PowerCore 10K Power Bank", 29.0,
         {"brand": "Voltline", "type": "power bank", "capacity_mah": 10000, "battery_wh": 37, "output_w": 20, "ports": "1x USB-C, 1x USB-A"},
         "A pocket-size 10,000 mAh (37 Wh) power bank that recharges most phones about twice. Under the 100 Wh airline limit, so it can travel in your carry-on."),
        ("Voltline PowerCore 20K Power Bank", 49.0,
         {"brand": "Voltline", "type": "power bank", "capacity_mah": 20000, "battery_wh": 74, "output_w": 65, "ports": "2x USB-C, 1x USB-A"},
         "A 20,000 mAh (74 Wh) power bank with 65 W USB-C output, strong enough to charge a laptop. Carry-on approved (under 100 Wh); never pack it in checked luggage."),
        ("Voltline 65W GaN USB-C Charger", 39.0,
         {"brand": "Voltline", "type": "wall charger", "output_w": 65, "ports": "2x USB-C, 1x USB-A", "foldable_plug": True},
         "A compact gallium-nitride charger that powers a laptop, phone and earbuds at the same time from one outlet."),
        ("Voltline 3-in-1 Wireless Charging Stand", 59.0,
         {"brand": "Voltline", "type": "wireless charger", "output_w": 15, "charges": ["phone", "earbuds", "watch"]},
         "Charges a phone, earbuds and a smartwatch at once on a weighted aluminum stand; the phone pad tilts for video calls."),
        ("Nimbus Keyboard Folio for Tab 13 Pro", 149.0,
         {"brand": "Nimbus", "type": "tablet keyboard", "compatible_with": "Nimbus Tab 13 Pro", "backlit": True, "color": "storm gray"},
         "A backlit keyboard cover with a glass trackpad that attaches magnetically to the Nimbus Tab 13 Pro and protects the screen when closed."),
    ]
    for title, price, attrs, desc in accessories:
        attrs["store_warranty_years"] = 1
        add("PHN", cat, title, price, attrs, desc)


# --------------------------------------------------------------------------- Audio
def gen_audio() -> None:
    cat = "Audio"
    items = [
        # (title stem, colors, price, attrs, description, hygiene)
        ("Sonder Q40 Wireless Noise-Cancelling Headphones", ["black", "sand", "navy"], 199.0,
         {"brand": "Sonder", "type": "over-ear", "wireless": True, "anc": True, "battery_hours": 40, "driver_mm": 40},
         "Over-ear headphones with adaptive noise cancelling, 40 hours of battery life and a 5-minute quick charge for 4 hours of playback. The fold-flat design fits in the included hard case.", False),
        ("Sonder Q60 Pro Wireless Noise-Cancelling Headphones", ["black", "silver"], 349.0,
         {"brand": "Sonder", "type": "over-ear", "wireless": True, "anc": True, "battery_hours": 30, "driver_mm": 40, "codec": "LDAC"},
         "Sonder's best noise cancelling with eight microphones, spatial audio with head tracking, and hi-res wireless audio. Memory-foam ear cushions stay comfortable on long flights.", False),
        ("Halo Acoustics Studio 7 Monitor Headphones", [None], 129.0,
         {"brand": "Halo Acoustics", "type": "over-ear", "wireless": False, "anc": False, "impedance_ohm": 38, "driver_mm": 45, "cable": "detachable 3 m coiled"},
         "Closed-back wired headphones with a flat, accurate response for mixing, podcasting and home recording. Comes with a detachable coiled cable and a 6.3 mm adapter.", False),
        ("Bramble Kids Wireless Headphones", ["mint", "coral"], 49.0,
         {"brand": "Bramble", "type": "on-ear", "wireless": True, "volume_limit_db": 85, "battery_hours": 30},
         "Durable, bendable headphones for children with volume limited to 85 dB to protect young ears, and a share port so two kids can listen together.", False),
        ("Sonder Buds Air True Wireless Earbuds", ["white", "black"], 99.0,
         {"brand": "Sonder", "type": "in-ear", "wireless": True, "anc": False, "battery_hours": 6, "case_hours": 24, "water_rating": "IPX4"},
         "Lightweight everyday earbuds with touch controls, 24 hours of total battery with the case and a sweat-resistant IPX4 rating.", True),
        ("Sonder Buds Pro Noise-Cancelling Earbuds", ["black", "moss green"], 179.0,
         {"brand": "Sonder", "type": "in-ear", "wireless": True, "anc": True, "battery_hours": 8, "case_hours": 32, "water_rating": "IPX5", "wireless_charging": True},
         "Premium earbuds with active noise cancelling, transparency mode, a wireless charging case and four sizes of silicone ear tips.", True),
        ("Sonder Buds Lite Wireless Earbuds", ["white"], 49.0,
         {"brand": "Sonder", "type": "in-ear", "wireless": True, "anc": False, "battery_hours": 5, "case_hours": 20, "water_rating": "IPX4"},
         "Simple, affordable wireless earbuds with a one-tap pairing case and clear calls thanks to dual microphones.", True),
        ("Tidewater Sport Buds with Ear Hooks", ["black", "volt yellow"], 89.0,
         {"brand": "Tidewater", "type": "in-ear", "wireless": True, "anc": False, "battery_hours": 10, "water_rating": "IPX7"},
         "Secure-fit earbuds with flexible ear hooks that stay put on trail runs, waterproof to IPX7 and easy to rinse after a sweaty workout.", True),
        ("Halo Acoustics OpenFit Open-Ear Headphones", [None], 129.0,
         {"brand": "Halo Acoustics", "type": "open-ear", "wireless": True, "anc": False, "battery_hours": 8, "water_rating": "IP55"},
         "Open-ear headphones that rest outside the ear canal so you can hear traffic and trail sounds while you listen; a good choice for cyclists and runners.", False),
        ("Tidewater Wave Mini Portable Bluetooth Speaker", ["slate", "sunset orange", "lake blue", "pine green"], 59.0,
         {"brand": "Tidewater", "type": "portable speaker", "wireless": True, "battery_hours": 12, "water_rating": "IP67", "floats": True},
         "A palm-size speaker with surprisingly full sound and a carabiner strap. It is dustproof, waterproof to IP67 and floats if it falls in the lake.", False),
        ("Tidewater Wave Max Portable Bluetooth Speaker", ["slate"], 179.0,
         {"brand": "Tidewater", "type": "portable speaker", "wireless": True, "battery_hours": 24, "water_rating": "IP67", "power_bank": True},
         "A big-sound party speaker with 24 hours of battery, a built-in USB-C power bank and a stereo pairing mode for two speakers.", False),
        ("Bramble Home Smart Speaker", ["charcoal"], 99.0,
         {"brand": "Bramble", "type": "smart speaker", "wireless": True, "wifi": True, "voice_assistant": True},
         "A Wi-Fi smart speaker with room-filling sound, multi-room audio and a physical microphone mute switch.", False),
        ("Bramble Camp Radio, Hand-Crank AM/FM/Weather", ["orange", "olive"], 45.0,
         {"brand": "Bramble", "type": "radio", "bands": ["AM", "FM", "NOAA weather"], "power": ["hand crank", "solar", "USB-C"], "flashlight_lumens": 150},
         "An emergency radio that receives NOAA weather alerts and can be powered by hand crank, solar panel or USB-C; it also works as a flashlight and a phone charger.", False),
        ("Halo Acoustics Bar 3.1 Soundbar with Wireless Subwoofer", [None], 399.0,
         {"brand": "Halo Acoustics", "type": "soundbar", "channels": "3.1", "hdmi_earc": True, "wireless_sub": True},
         "A 3.1-channel soundbar with a dedicated center channel for clear dialogue and a wireless subwoofer that can sit anywhere in the room.", False),
        ("Halo Acoustics Bar 5.1.2 Dolby Atmos Soundbar", [None], 799.0,
         {"brand": "Halo Acoustics", "type": "soundbar", "channels": "5.1.2", "dolby_atmos": True, "hdmi_earc": True, "wireless_sub": True},
         "An immersive Dolby Atmos system with up-firing drivers and automatic room calibration using the microphone in the remote.", False),
        ("Halo Acoustics Monitor 5 Powered Bookshelf Speakers (Pair)", ["walnut", "black"], 299.0,
         {"brand": "Halo Acoustics", "type": "bookshelf speakers", "powered": True, "inputs": ["Bluetooth", "optical", "RCA", "phono"], "woofer_in": 5},
         "Powered stereo speakers with a built-in phono preamp, so you can connect a turntable directly, plus Bluetooth and optical inputs for TV and streaming.", False),
        ("Bramble Record Player with Bluetooth Output", [None], 229.0,
         {"brand": "Bramble", "type": "turntable", "speeds_rpm": [33, 45], "bluetooth_out": True, "preamp": "switchable"},
         "A belt-driven turntable with an aluminum platter, a pre-mounted cartridge and Bluetooth output to send records to wireless speakers.", False),
        ("Sonder Cast USB Microphone", [None], 119.0,
         {"brand": "Sonder", "type": "microphone", "connection": "USB-C", "pattern": "cardioid", "headphone_jack": True},
         "A plug-and-play USB-C condenser microphone for podcasts, streaming and video calls, with a zero-latency headphone jack and a tap-to-mute button.", False),
    ]
    for stem, colors, price, base_attrs, desc, hygiene in items:
        for color in colors:
            attrs = dict(base_attrs)
            title = stem
            if color:
                attrs["color"] = color
                if len(colors) > 1:
                    title = f"{stem}, {title_color(color)}"
            attrs["store_warranty_years"] = 1
            d = desc
            if hygiene:
                attrs["hygiene_item"] = True
                d += " For hygiene reasons, earbuds can't be returned once the seal is removed."
            add("AUD", cat, title, price, attrs, d)


# --------------------------------------------------------------------------- Camping & Hiking
def gen_camping() -> None:
    cat = "Camping & Hiking"
    items = [
        ("Northwind Basecamp 2 Backpacking Tent", 329.0,
         {"brand": "Northwind", "type": "tent", "capacity_people": 2, "season": "3-season", "weight_kg": 1.9, "doors": 2, "store_warranty_years": 2},
         "A freestanding two-person tent with two doors, two vestibules and a color-coded pole system that sets up in under five minutes. Weighs 1.9 kg with stakes and guylines."),
        ("Northwind Basecamp 3 Backpacking Tent", 389.0,
         {"brand": "Northwind", "type": "tent", "capacity_people": 3, "season": "3-season", "weight_kg": 2.4, "doors": 2, "store_warranty_years": 2},
         "The roomier three-person version of the Basecamp, with steep walls for more headroom, mesh storage pockets and a fly that can be pitched on its own."),
        ("Ridgeline Ultralight 1 Trekking-Pole Tent", 279.0,
         {"brand": "Ridgeline", "type": "tent", "capacity_people": 1, "season": "3-season", "weight_kg": 0.98, "pitch": "trekking poles"},
         "A single-wall shelter for thru-hikers that pitches with your trekking poles and weighs under 1 kg."),
        ("Ridgeline Ultralight 2 Trekking-Pole Tent", 349.0,
         {"brand": "Ridgeline", "type": "tent", "capacity_people": 2, "season": "3-season", "weight_kg": 1.15, "pitch": "trekking poles"},
         "A two-person ultralight shelter with a bathtub floor and two side entrances, weighing just 1.15 kg."),
        ("Alpenglow Family Dome 6 Tent", 299.0,
         {"brand": "Alpenglow", "type": "tent", "capacity_people": 6, "season": "3-season", "weight_kg": 8.6, "peak_height_cm": 198, "rooms": 2},
         "A tall car-camping tent with standing headroom, a room divider and an electrical cord port; sleeps six on two queen air mattresses."),
        ("Alpenglow Summit 2 Four-Season Tent", 649.0,
         {"brand": "Alpenglow", "type": "tent", "capacity_people": 2, "season": "4-season", "weight_kg": 3.1, "snow_skirts": True},
         "A mountaineering tent with four crossing poles, snow skirts and a vestibule big enough to cook in; built to handle high winds and snow loads."),
        ("Northwind Ember 20F Down Sleeping Bag, Regular", 319.0,
         {"brand": "Northwind", "type": "sleeping bag", "temp_rating_f": 20, "insulation": "800-fill RDS down", "fits_height_cm": 183, "weight_g": 980, "store_warranty_years": 2},
         "A three-season mummy bag filled with 800-fill responsibly sourced down, with a draft collar and a glow-in-the-dark zipper pull. Fits people up to 6 ft (183 cm)."),
        ("Northwind Ember 20F Down Sleeping Bag, Long", 339.0,
         {"brand": "Northwind", "type": "sleeping bag", "temp_rating_f": 20, "insulation": "800-fill RDS down", "fits_height_cm": 198, "weight_g": 1060, "store_warranty_years": 2},
         "The long version of our Ember 20F down bag for people up to 6 ft 6 in (198 cm), with the same draft collar and water-resistant shell."),
        ("Northwind Ember 0F Down Sleeping Bag", 449.0,
         {"brand": "Northwind", "type": "sleeping bag", "temp_rating_f": 0, "insulation": "800-fill RDS down", "fits_height_cm": 183, "weight_g": 1450, "store_warranty_years": 2},
         "A winter bag rated to 0 F (-18 C) with baffled construction, an insulated hood and a full-length draft tube."),
        ("Cairn & Co. Drift 30F Synthetic Sleeping Bag", 119.0,
         {"brand": "Cairn & Co.", "type": "sleeping bag", "temp_rating_f": 30, "insulation": "synthetic", "weight_g": 1300},
         "A budget-friendly synthetic bag that stays warm even when damp, with a rectangular cut that unzips into a blanket."),
        ("Cairn & Co. Kids' Campfire 40F Sleeping Bag", 59.0,
         {"brand": "Cairn & Co.", "type": "sleeping bag", "temp_rating_f": 40, "insulation": "synthetic", "fits_height_cm": 150},
         "A machine-washable kids' sleeping bag with a glow-in-the-dark star print, for sleepovers and summer camping."),
        ("Alpenglow Double Sleeping Bag for Two", 189.0,
         {"brand": "Alpenglow", "type": "sleeping bag", "temp_rating_f": 35, "insulation": "synthetic", "width_cm": 150},
         "A queen-width flannel-lined sleeping bag for two that zips apart into two separate quilts."),
        ("Ridgeline AirLite Insulated Sleeping Pad, Regular", 159.0,
         {"brand": "Ridgeline", "type": "sleeping pad", "r_value": 4.2, "thickness_cm": 7.6, "weight_g": 460, "length_cm": 183},
         "An insulated air pad with an R-value of 4.2 for three-season use that packs down to the size of a water bottle. Includes a pump sack."),
        ("Ridgeline AirLite Insulated Sleeping Pad, Wide Long", 189.0,
         {"brand": "Ridgeline", "type": "sleeping pad", "r_value": 4.2, "thickness_cm": 7.6, "weight_g": 590, "length_cm": 198},
         "The wide and long version of the AirLite pad (64 x 198 cm) for side sleepers and tall hikers."),
        ("Cairn & Co. Self-Inflating Camp Pad 3-Inch", 99.0,
         {"brand": "Cairn & Co.", "type": "sleeping pad", "r_value": 6.0, "thickness_cm": 7.6, "weight_g": 1900},
         "A thick foam-core pad with an R-value of 6.0, warm enough for winter car camping and comfortable as a guest bed."),
        ("Northwind Closed-Cell Foam Sleeping Pad", 44.0,
         {"brand": "Northwind", "type": "sleeping pad", "r_value": 2.0, "weight_g": 410, "store_warranty_years": 2},
         "An indestructible accordion-fold foam pad that can't puncture; use it alone or under an air pad for extra warmth."),
        ("Northwind Trailhead 28L Daypack", 89.0,
         {"brand": "Northwind", "type": "backpack", "volume_l": 28, "hydration_compatible": True, "rain_cover": True, "store_warranty_years": 2},
         "A day-hiking pack with a ventilated back panel, hip-belt pockets, a hydration sleeve and a built-in rain cover."),
        ("Northwind Traverse 55L Backpacking Pack, Men's", 239.0,
         {"brand": "Northwind", "type": "backpack", "volume_l": 55, "fit": "men's", "torso_adjustable": True, "weight_kg": 1.7, "store_warranty_years": 2},
         "A multi-day pack with an adjustable torso length, a load-lifting aluminum frame and a sleeping-bag compartment."),
        ("Northwind Traverse 55L Backpacking Pack, Women's", 239.0,
         {"brand": "Northwind", "type": "backpack", "volume_l": 55, "fit": "women's", "torso_adjustable": True, "weight_kg": 1.65, "store_warranty_years": 2},
         "The women's-specific Traverse with a shorter torso range, contoured shoulder straps and a hip belt shaped for a better load transfer."),
        ("Ridgeline Ultralight 40L Frameless Pack", 179.0,
         {"brand": "Ridgeline", "type": "backpack", "volume_l": 40, "weight_kg": 0.62, "material": "ripstop nylon"},
         "A 620 g frameless pack for ultralight hikers carrying under 10 kg, with a large mesh front pocket and a roll-top closure."),
        ("Alpenglow Expedition 70L Pack", 329.0,
         {"brand": "Alpenglow", "type": "backpack", "volume_l": 70, "weight_kg": 2.3, "ice_axe_loops": 2},
         "A high-capacity expedition pack for week-long trips and winter loads, with ice-axe loops and a removable lid that becomes a summit pack."),
        ("Cairn & Co. Pocket Canister Stove", 49.0,
         {"brand": "Cairn & Co.", "type": "stove", "fuel": "isobutane canister", "weight_g": 85, "boil_time_min": 3.5},
         "An 85 g backpacking stove with piezo ignition that boils a liter of water in about 3.5 minutes. Fuel canister sold separately."),
        ("Cairn & Co. Two-Burner Propane Camp Stove", 139.0,
         {"brand": "Cairn & Co.", "type": "stove", "fuel": "propane", "burners": 2, "btu_per_burner": 10000, "wind_screens": True},
         "A classic two-burner car-camping stove with wind screens and precise simmer control, sized for a 12-inch pan on each burner."),
        ("Cairn & Co. Isobutane Fuel Canister 230 g", 7.99,
         {"brand": "Cairn & Co.", "type": "fuel", "fuel": "isobutane-propane mix", "net_weight_g": 230, "ships_to": CONTIGUOUS_ONLY, "returnable": False},
         "A 230 g isobutane-propane canister for backpacking stoves that performs well down to about 20 F. Ships to the contiguous US only by ground and can't be returned."),
        ("Northwind Titanium Cook Pot 750 ml", 54.0,
         {"brand": "Northwind", "type": "cookware", "material": "titanium", "volume_ml": 750, "weight_g": 105, "store_warranty_years": 2},
         "A 105 g titanium pot with a lid and folding handles that nests a small gas canister and stove inside."),
        ("Ridgeline Beam 400 Headlamp", 34.0,
         {"brand": "Ridgeline", "type": "headlamp", "lumens": 400, "battery": "3x AAA", "red_light": True, "water_rating": "IPX4"},
         "A lightweight 400-lumen headlamp with a red night-vision mode and a lock mode so it doesn't turn on in your pack."),
        ("Ridgeline Beam 900 Rechargeable Headlamp", 69.0,
         {"brand": "Ridgeline", "type": "headlamp", "lumens": 900, "battery": "rechargeable Li-ion 2200 mAh", "charging": "USB-C", "water_rating": "IPX7", "store_warranty_years": 1},
         "A bright 900-lumen rechargeable headlamp with reactive lighting that adjusts the beam automatically, charged via USB-C."),
        ("Alpenglow Lantern 500 Rechargeable", 59.0,
         {"brand": "Alpenglow", "type": "lantern", "lumens": 500, "charging": "USB-C", "power_bank": True, "store_warranty_years": 1},
         "A collapsible camp lantern with warm and cool light settings that doubles as a USB power bank for your phone."),
        ("Ridgeline Squeeze Water Filter", 39.0,
         {"brand": "Ridgeline", "type": "water filter", "filter": "0.1 micron hollow fiber", "capacity_l": 380000, "weight_g": 85},
         "A pocket water filter that screws onto standard bottles and removes 99.9999% of bacteria and protozoa. Backflush to keep the flow rate high."),
        ("Alpenglow Gravity Water Filter 6L", 99.0,
         {"brand": "Alpenglow", "type": "water filter", "filter": "0.2 micron hollow fiber", "reservoir_l": 6},
         "A hands-free gravity filter that cleans 6 liters of water in about 3 minutes; ideal for group camps."),
        ("Voltline Trek 300 Portable Power Station", 299.0,
         {"brand": "Voltline", "type": "power station", "battery_wh": 288, "chemistry": "LiFePO4", "ac_output_w": 300, "weight_kg": 3.6, "ships_to": CONTIGUOUS_ONLY, "store_warranty_years": 1},
         "A 288 Wh LiFePO4 power station with two AC outlets and USB-C PD that runs a CPAP machine for about two nights. Ships to the contiguous US only because of its battery size."),
        ("Voltline Trek 1000 Portable Power Station", 899.0,
         {"brand": "Voltline", "type": "power station", "battery_wh": 1024, "chemistry": "LiFePO4", "ac_output_w": 1800, "weight_kg": 12.5, "ships_to": CONTIGUOUS_ONLY, "store_warranty_years": 1},
         "A 1,024 Wh power station with 1,800 W output that can run a mini fridge, a coffee maker or power tools, and recharges from solar. Ships to the contiguous US only."),
        ("Voltline 100W Folding Solar Panel", 229.0,
         {"brand": "Voltline", "type": "solar panel", "output_w": 100, "weight_kg": 4.1, "water_rating": "IP67", "store_warranty_years": 1},
         "A foldable 100 W monocrystalline panel with a kickstand that charges Voltline power stations and, via USB-C, phones directly."),
        ("Northwind Carbon Trekking Poles (Pair)", 149.0,
         {"brand": "Northwind", "type": "trekking poles", "material": "carbon fiber", "length_cm": "100-135", "weight_g_pair": 440, "store_warranty_years": 2},
         "Light carbon-fiber poles with quick-release locks and cork grips that wick sweat; they also pitch trekking-pole tents."),
        ("Ridgeline Aluminum Trekking Poles (Pair)", 69.0,
         {"brand": "Ridgeline", "type": "trekking poles", "material": "aluminum", "length_cm": "105-140", "weight_g_pair": 540},
         "Durable aluminum poles with flip locks and foam grips, a great first pair for day hikes and knee-friendly descents."),
        ("Alpenglow Camp Chair with Cup Holder", 59.0,
         {"brand": "Alpenglow", "type": "chair", "capacity_kg": 136, "weight_kg": 3.2, "seat_height_cm": 46},
         "A folding camp chair with a padded seat, an insulated cup holder and a side pocket, rated for 136 kg."),
        ("Alpenglow Roll-Top Aluminum Camp Table", 89.0,
         {"brand": "Alpenglow", "type": "table", "tabletop_cm": "70x70", "height_cm": 70, "weight_kg": 4.4},
         "A sturdy roll-top table that packs into its own bag and holds a two-burner stove and prep space for four people."),
        ("Cairn & Co. 45 Qt Rotomolded Cooler", 249.0,
         {"brand": "Cairn & Co.", "type": "cooler", "capacity_qt": 45, "ice_retention_days": 7, "bear_resistant": True},
         "A rotomolded cooler with 3 inches of insulation that keeps ice for up to 7 days, certified bear-resistant with two padlocks."),
        ("Cairn & Co. Bear Canister 11.5L", 89.0,
         {"brand": "Cairn & Co.", "type": "bear canister", "volume_l": 11.5, "weight_kg": 1.2, "approved": "IGBC"},
         "A hard-sided food canister approved for national parks that require bear-resistant storage; holds about five days of food for one person."),
    ]
    for title, price, attrs, desc in items:
        add("CMP", cat, title, price, attrs, desc)


# --------------------------------------------------------------------------- Apparel
MENS_SIZES = ["XS", "S", "M", "L", "XL", "XXL"]
WOMENS_SIZES = ["XS", "S", "M", "L", "XL", "XXL"]


def gen_apparel() -> None:
    cat = "Apparel"
    # (name, genders, price, colors, attrs, description)
    models = [
        ("Northwind Stormline Rain Jacket", ["Men's", "Women's"], 169.0, ["deep forest", "black", "glacier blue"],
         {"brand": "Northwind", "waterproof_mm": 20000, "layers": 2.5, "pit_zips": True, "packable": True},
         "A 2.5-layer waterproof-breathable shell rated to 20,000 mm with pit zips, an adjustable hood and a chest pocket it packs into."),
        ("Northwind Stormline Rain Pants", ["Men's", "Women's"], 119.0, ["black"],
         {"brand": "Northwind", "waterproof_mm": 20000, "layers": 2.5, "full_side_zips": True},
         "Waterproof pants with full-length side zips so you can pull them on over boots, and an elastic waist with a drawcord."),
        ("Northwind Ember Down Jacket", ["Men's", "Women's"], 229.0, ["black", "rust", "navy"],
         {"brand": "Northwind", "insulation": "800-fill RDS down", "weight_g": 340, "water_repellent": True},
         "A lightweight 800-fill down jacket that stuffs into its own pocket, with a water-repellent shell and hand-warmer pockets."),
        ("Northwind Ember Down Vest", ["Men's", "Women's"], 149.0, ["black", "olive"],
         {"brand": "Northwind", "insulation": "800-fill RDS down", "weight_g": 210},
         "A packable down vest for cool mornings and layering under a shell, with zippered hand pockets."),
        ("Northwind Ridge Fleece Pullover", ["Men's", "Women's"], 79.0, ["heather gray", "forest", "oatmeal"],
         {"brand": "Northwind", "material": "recycled polyester fleece", "weight_gsm": 200, "zip": "quarter"},
         "A classic quarter-zip midweight fleece made from recycled polyester, with a kangaroo pocket and a soft brushed collar."),
        ("Fernhill Merino 150 Base Layer Top", ["Men's", "Women's"], 89.0, ["black", "charcoal"],
         {"brand": "Fernhill", "material": "100% merino wool", "weight_gsm": 150, "fit": "slim"},
         "A lightweight merino wool crew that regulates temperature and resists odor for days on the trail."),
        ("Fernhill Merino 250 Base Layer Bottoms", ["Men's", "Women's"], 95.0, ["black"],
         {"brand": "Fernhill", "material": "100% merino wool", "weight_gsm": 250, "fit": "slim"},
         "Midweight merino leggings for cold-weather hiking and skiing, with flat-lock seams that won't chafe under a pack belt."),
        ("Northwind Switchback Hiking Pants", ["Men's", "Women's"], 89.0, ["khaki", "charcoal", "moss"],
         {"brand": "Northwind", "material": "nylon-spandex stretch", "upf": 50, "inseams": ["Short", "Regular", "Long"]},
         "Stretchy, quick-drying hiking pants with UPF 50 sun protection, a zippered thigh pocket and an integrated belt."),
        ("Northwind Switchback Convertible Pants", ["Men's"], 99.0, ["khaki", "charcoal"],
         {"brand": "Northwind", "material": "nylon-spandex stretch", "upf": 50, "convertible": True},
         "Convertible hiking pants whose legs zip off into 9-inch shorts, with color-coded zippers for easy matching."),
        ("Northwind Trail Shorts 7-Inch", ["Men's"], 54.0, ["khaki", "black"],
         {"brand": "Northwind", "inseam_in": 7, "material": "recycled nylon", "upf": 50},
         "Lightweight hiking shorts with a 7-inch inseam, a gusseted crotch and a zippered phone pocket."),
        ("Northwind Trail Shorts 5-Inch", ["Women's"], 54.0, ["khaki", "dusty rose"],
         {"brand": "Northwind", "inseam_in": 5, "material": "recycled nylon", "upf": 50},
         "Lightweight hiking shorts with a 5-inch inseam, a wide comfortable waistband and a zippered phone pocket."),
        ("Timberline Thread Heritage Flannel Shirt", ["Men's", "Women's"], 69.0, ["red buffalo check", "green plaid"],
         {"brand": "Timberline Thread", "material": "100% organic cotton flannel", "weight_oz": 6},
         "A brushed organic-cotton flannel that gets softer with every wash, with two button-flap chest pockets."),
        ("Timberline Thread Organic Cotton Tee", ["Men's", "Women's"], 29.0, ["white", "black", "heather gray", "sage"],
         {"brand": "Timberline Thread", "material": "100% organic cotton", "weight_gsm": 180},
         "A midweight everyday tee in organic cotton, garment-dyed and pre-shrunk so it keeps its fit."),
        ("Fernhill Sun Hoodie UPF 50", ["Men's", "Women's"], 64.0, ["sky blue", "white"],
         {"brand": "Fernhill", "upf": 50, "material": "recycled polyester", "thumb_loops": True},
         "A breathable sun hoodie with UPF 50 protection, a scuba-style hood and thumb loops for hot, exposed trails."),
        ("Fernhill Trail Leggings", ["Women's"], 79.0, ["black", "deep plum"],
         {"brand": "Fernhill", "material": "nylon-elastane", "pockets": 3, "squat_proof": True},
         "Durable, abrasion-resistant leggings for hiking and climbing with two thigh pockets that hold a phone securely."),
        ("Fernhill Sports Bra", ["Women's"], 49.0, ["black", "teal"],
         {"brand": "Fernhill", "support": "medium", "material": "recycled nylon", "hygiene_item": True},
         "A medium-support sports bra with removable cups and a moisture-wicking racerback. Underwear can't be returned once worn."),
        ("Fernhill Merino Boxer Briefs", ["Men's"], 39.0, ["black", "charcoal"],
         {"brand": "Fernhill", "material": "merino-nylon blend", "inseam_in": 6, "hygiene_item": True},
         "Breathable merino boxer briefs that stay odor-free on multi-day trips. Underwear can't be returned once opened or worn."),
        ("Fernhill Merino Hiking Socks (2-Pack)", ["Unisex"], 34.0, ["gray", "forest"],
         {"brand": "Fernhill", "material": "merino wool blend", "cushion": "medium", "sizes": ["S", "M", "L", "XL"], "hygiene_item": True},
         "Medium-cushion merino socks with a seamless toe and arch support. Socks can't be returned once opened or worn."),
        ("Fernhill Merino Cuffed Beanie", ["Unisex"], 32.0, ["charcoal", "rust", "navy"],
         {"brand": "Fernhill", "material": "100% merino wool", "sizes": ["One size"]},
         "A soft rib-knit merino beanie with a fold-over cuff that's warm without being itchy."),
        ("Northwind Insulated Touchscreen Gloves", ["Unisex"], 45.0, ["black"],
         {"brand": "Northwind", "insulation": "synthetic", "touchscreen": True, "sizes": ["S", "M", "L", "XL"]},
         "Insulated, water-resistant gloves with touchscreen-compatible fingertips and a grippy palm."),
        ("Timberline Thread Packable Sun Hat", ["Unisex"], 36.0, ["khaki"],
         {"brand": "Timberline Thread", "upf": 50, "brim_in": 3, "sizes": ["S/M", "L/XL"]},
         "A crushable wide-brim hat with UPF 50, a removable chin strap and a mesh vent band."),
        ("Timberline Thread Canvas Work Jacket", ["Men's"], 139.0, ["brown duck", "black"],
         {"brand": "Timberline Thread", "material": "12 oz cotton canvas", "lining": "flannel"},
         "A tough 12 oz cotton canvas chore jacket with a flannel lining, corduroy collar and triple-stitched seams."),
        ("Fernhill Kids' Puddle Rain Jacket", ["Kids'"], 59.0, ["yellow", "red"],
         {"brand": "Fernhill", "waterproof_mm": 10000, "sizes": ["4", "5/6", "7/8", "10/12", "14/16"], "reflective": True},
         "A fully waterproof kids' rain jacket with reflective trim and a name label inside the collar."),
    ]
    for name, genders, price, colors, base_attrs, desc in models:
        for gender in genders:
            attrs = {"brand": base_attrs["brand"],
                     "gender": {"Men's": "men", "Women's": "women", "Unisex": "unisex", "Kids'": "kids"}[gender]}
            attrs.update({k: v for k, v in base_attrs.items() if k != "brand"})
            attrs.setdefault("sizes", MENS_SIZES if gender == "Men's" else WOMENS_SIZES)
            attrs["colors"] = colors
            if attrs["brand"] == "Northwind":
                attrs["store_warranty_years"] = 2
            title = name if gender in ("Unisex", "Kids'") else f"{name}, {gender}"
            d = desc
            if gender == "Women's" and len(genders) > 1:
                d = d + " Cut with a women's-specific fit."
            elif gender == "Men's" and len(genders) > 1:
                d = d + " Cut with a men's regular fit."
            add("APP", cat, title, price, attrs, d)


# --------------------------------------------------------------------------- Footwear
def gen_footwear() -> None:
    cat = "Footwear"
    mens = [str(s) for s in (7, 7.5, 8, 8.5, 9, 9.5, 10, 10.5, 11, 12, 13)]
    womens = [str(s) for s in (5, 5.5, 6, 6.5, 7, 7.5, 8, 8.5, 9, 9.5, 10, 11)]
    models = [
        ("Northwind Summit Mid Waterproof Hiking Boots", ["Men's", "Women's"], 169.0,
         {"brand": "Northwind", "waterproof": True, "height": "mid", "weight_g_pair": 1050, "sole": "lugged rubber"},
         "Waterproof mid-height hiking boots with a nubuck leather upper, supportive heel counter and deep 5 mm lugs for muddy trails. Comfortable out of the box with minimal break-in."),
        ("Ridgeline Trail Runner 4", ["Men's", "Women's"], 139.0,
         {"brand": "Ridgeline", "waterproof": False, "drop_mm": 6, "weight_g_pair": 580, "stack_mm": 30},
         "A cushioned, breathable trail-running shoe with a 6 mm drop and a rock plate that protects against sharp stones."),
        ("Ridgeline Trail Runner 4 WP", ["Men's", "Women's"], 159.0,
         {"brand": "Ridgeline", "waterproof": True, "drop_mm": 6, "weight_g_pair": 640, "stack_mm": 30},
         "The waterproof version of the Trail Runner 4, with a membrane bootie for wet shoulder-season runs."),
        ("Alpenglow Scramble Approach Shoes", ["Men's", "Women's"], 149.0,
         {"brand": "Alpenglow", "waterproof": False, "sole": "sticky climbing rubber", "weight_g_pair": 760},
         "Approach shoes with sticky climbing rubber and a climbing-zone toe for scrambles and rocky trails."),
        ("Cairn & Co. River Camp Sandals", ["Men's", "Women's"], 64.0,
         {"brand": "Cairn & Co.", "waterproof": True, "closure": "adjustable straps", "weight_g_pair": 520},
         "Quick-drying sandals with adjustable straps and a grippy outsole for river crossings and camp."),
        ("Northwind Frostline Insulated Winter Boots", ["Men's", "Women's"], 189.0,
         {"brand": "Northwind", "waterproof": True, "insulation_g": 400, "temp_rating_f": -25},
         "Waterproof winter boots with 400 g insulation rated to -25 F, a removable felt liner and an ice-grip outsole."),
        ("Timberline Thread 6-Inch Leather Work Boots", ["Men's"], 199.0,
         {"brand": "Timberline Thread", "waterproof": True, "construction": "Goodyear welt", "toe": "soft toe"},
         "Full-grain leather work boots with a resoleable Goodyear-welt construction and an oil-resistant outsole."),
        ("Northwind Kids' Trailblazer Hiking Boots", ["Kids'"], 69.0,
         {"brand": "Northwind", "waterproof": True, "closure": "bungee laces with hook-and-loop strap"},
         "Waterproof kids' hiking boots with easy bungee laces and a hook-and-loop strap that little hands can manage."),
        ("Fernhill Recovery Slides", ["Unisex"], 44.0,
         {"brand": "Fernhill", "waterproof": True, "material": "foam"},
         "Soft, supportive foam slides for after a long hike or run, with a contoured footbed that cushions tired feet."),
    ]
    for name, genders, price, base_attrs, desc in models:
        for gender in genders:
            attrs = {"brand": base_attrs["brand"],
                     "gender": {"Men's": "men", "Women's": "women", "Unisex": "unisex", "Kids'": "kids"}[gender]}
            attrs.update({k: v for k, v in base_attrs.items() if k != "brand"})
            attrs["sizes_us"] = {"Men's": mens, "Women's": womens, "Kids'": ["11K", "12K", "13K", "1Y", "2Y", "3Y", "4Y", "5Y"],
                                 "Unisex": ["M4/W6", "M6/W8", "M8/W10", "M10/W12", "M12/W14"]}[gender]
            if attrs["brand"] == "Northwind":
                attrs["store_warranty_years"] = 2
            title = name if gender in ("Unisex", "Kids'") else f"{name}, {gender}"
            add("FTW", cat, title, price, attrs, desc)


# --------------------------------------------------------------------------- Home & Kitchen
def gen_home() -> None:
    cat = "Home & Kitchen"
    items = [
        ("Copperfield Kitchen Cast Iron Skillet 10-Inch", 34.0,
         {"brand": "Copperfield Kitchen", "material": "cast iron", "diameter_in": 10, "pre_seasoned": True, "induction": True, "oven_safe_f": 650},
         "A pre-seasoned 10-inch cast-iron skillet that goes from stovetop to oven to campfire. Works on induction and gets better with every use."),
        ("Copperfield Kitchen Cast Iron Skillet 12-Inch", 44.0,
         {"brand": "Copperfield Kitchen", "material": "cast iron", "diameter_in": 12, "pre_seasoned": True, "induction": True, "oven_safe_f": 650},
         "A pre-seasoned 12-inch skillet with a helper handle, big enough to sear two steaks or bake cornbread for six."),
        ("Copperfield Kitchen Enameled Dutch Oven 5.5 Qt, Cherry Red", 119.0,
         {"brand": "Copperfield Kitchen", "material": "enameled cast iron", "capacity_qt": 5.5, "color": "cherry red", "oven_safe_f": 500},
         "A 5.5-quart enameled cast-iron Dutch oven for braises, soups and no-knead bread, with a self-basting lid."),
        ("Copperfield Kitchen Enameled Dutch Oven 5.5 Qt, Lake Blue", 119.0,
         {"brand": "Copperfield Kitchen", "material": "enameled cast iron", "capacity_qt": 5.5, "color": "lake blue", "oven_safe_f": 500},
         "The same 5.5-quart enameled Dutch oven in lake blue; the light interior enamel makes it easy to watch browning."),
        ("Copperfield Kitchen Ceramic Nonstick 10-Piece Cookware Set", 199.0,
         {"brand": "Copperfield Kitchen", "material": "aluminum with ceramic nonstick", "pieces": 10, "pfas_free": True, "induction": True},
         "A PFAS-free ceramic nonstick set with two frying pans, two saucepans, a sauté pan and a stockpot, plus four lids."),
        ("Copperfield Kitchen Tri-Ply Stainless Frying Pan 12-Inch", 79.0,
         {"brand": "Copperfield Kitchen", "material": "tri-ply stainless steel", "diameter_in": 12, "dishwasher_safe": True, "induction": True},
         "A fully clad stainless steel pan that heats evenly edge to edge, dishwasher safe and oven safe to 500 F."),
        ("Kettle & Pine 8-Inch Chef's Knife", 89.0,
         {"brand": "Kettle & Pine", "blade": "VG-10 stainless steel", "blade_in": 8, "handle": "pakkawood"},
         "A Japanese-style chef's knife with a VG-10 steel core, a razor-sharp 15-degree edge and a balanced pakkawood handle."),
        ("Kettle & Pine 7-Piece Knife Block Set", 249.0,
         {"brand": "Kettle & Pine", "pieces": 7, "blade": "German stainless steel", "block": "acacia wood"},
         "A complete knife set with chef's, bread, santoku, utility and paring knives, honing steel and an acacia block."),
        ("Kettle & Pine End-Grain Walnut Cutting Board", 99.0,
         {"brand": "Kettle & Pine", "material": "walnut", "size_in": "18x12x1.5", "juice_groove": True},
         "A thick end-grain walnut board that is gentle on knife edges, with a juice groove and rubber feet."),
        ("Kettle & Pine Bamboo Utensil Set (6 Pieces)", 24.0,
         {"brand": "Kettle & Pine", "material": "bamboo", "pieces": 6},
         "Six sturdy bamboo spoons and spatulas that won't scratch nonstick or enameled cookware, with a ceramic holder."),
        ("Emberline Conical Burr Coffee Grinder", 129.0,
         {"brand": "Emberline", "burrs": "conical steel", "grind_settings": 40, "hopper_g": 250},
         "A burr grinder with 40 settings from fine espresso to coarse cold brew, and a timer that doses the same amount every morning."),
        ("Emberline Gooseneck Electric Kettle", 79.0,
         {"brand": "Emberline", "capacity_l": 0.9, "wattage_w": 1200, "temperature_control": True, "hold_minutes": 60},
         "A precision pour-over kettle with temperature control in 1-degree steps and a 60-minute keep-warm mode."),
        ("Emberline Duo Espresso Machine", 449.0,
         {"brand": "Emberline", "pressure_bar": 15, "steam_wand": True, "built_in_grinder": False, "water_tank_l": 1.8},
         "A compact espresso machine with a commercial-size 58 mm portafilter, PID temperature control and a manual steam wand for latte art."),
        ("Emberline Glass French Press 34 Oz", 34.0,
         {"brand": "Emberline", "capacity_oz": 34, "material": "borosilicate glass", "dishwasher_safe": True},
         "An 8-cup French press with a double stainless-steel mesh filter that keeps grounds out of your cup."),
        ("Emberline Ceramic Pour-Over Set", 44.0,
         {"brand": "Emberline", "pieces": 3, "material": "porcelain", "filters_included": 100},
         "A porcelain pour-over dripper with a glass carafe and 100 paper filters, for clean, bright single-origin coffee."),
        ("Brightwell 5.8 Qt Air Fryer", 99.0,
         {"brand": "Brightwell", "capacity_qt": 5.8, "wattage_w": 1700, "presets": 8, "dishwasher_safe_basket": True, "store_warranty_years": 1},
         "A 5.8-quart air fryer with eight presets and a shake reminder; crisps fries with a tablespoon of oil."),
        ("Brightwell ProBlend 1400W Blender", 149.0,
         {"brand": "Brightwell", "wattage_w": 1400, "jar_oz": 64, "programs": ["smoothie", "ice crush", "soup", "self-clean"], "store_warranty_years": 1},
         "A high-speed blender with a 64 oz jar that crushes ice and heats soup through blade friction."),
        ("Brightwell 4-Slice Wide-Slot Toaster", 59.0,
         {"brand": "Brightwell", "slots": 4, "shade_settings": 7, "bagel_mode": True, "store_warranty_years": 1},
         "A stainless toaster with extra-wide slots for bagels and thick sourdough, plus defrost and reheat buttons."),
        ("Brightwell 5 Qt Tilt-Head Stand Mixer, Sage", 279.0,
         {"brand": "Brightwell", "capacity_qt": 5, "wattage_w": 500, "speeds": 10, "color": "sage", "store_warranty_years": 1},
         "A 10-speed tilt-head stand mixer with a 5-quart stainless bowl, flat beater, dough hook and whisk."),
        ("Brightwell 5 Qt Tilt-Head Stand Mixer, Cream", 279.0,
         {"brand": "Brightwell", "capacity_qt": 5, "wattage_w": 500, "speeds": 10, "color": "cream", "store_warranty_years": 1},
         "The Brightwell stand mixer in cream, with a pouring shield and a splash guard included."),
        ("Brightwell 6 Qt Multicooker", 109.0,
         {"brand": "Brightwell", "capacity_qt": 6, "functions": ["pressure cook", "slow cook", "rice", "yogurt", "saute", "steam"], "store_warranty_years": 1},
         "A 6-quart pressure cooker, slow cooker, rice cooker and yogurt maker in one, with a stainless inner pot."),
        ("Brightwell Smart Plug (2-Pack)", 24.0,
         {"brand": "Brightwell", "connectivity": "Wi-Fi 2.4 GHz", "energy_monitoring": True, "max_load_a": 15, "store_warranty_years": 1},
         "Wi-Fi smart plugs that put lamps and appliances on a schedule and show how much energy they use."),
        ("Brightwell R5 Robot Vacuum with Self-Empty Base", 399.0,
         {"brand": "Brightwell", "suction_pa": 5000, "mapping": "lidar", "self_empty": True, "runtime_min": 150, "store_warranty_years": 1},
         "A lidar-mapping robot vacuum that empties itself into a base holding 60 days of dirt; set no-go zones in the app."),
        ("Brightwell AP300 HEPA Air Purifier", 179.0,
         {"brand": "Brightwell", "filter": "H13 true HEPA + carbon", "room_size_sqft": 400, "noise_db_min": 24, "store_warranty_years": 1},
         "A true HEPA purifier for rooms up to 400 sq ft that captures smoke, pollen and pet dander, with a 24 dB sleep mode."),
        ("Brightwell Smart Thermostat", 149.0,
         {"brand": "Brightwell", "connectivity": "Wi-Fi", "c_wire_required": False, "room_sensor_included": True, "store_warranty_years": 1},
         "A learning thermostat with a remote room sensor that balances hot and cold spots and works with most 24 V systems."),
        ("Brightwell 2K Video Doorbell", 129.0,
         {"brand": "Brightwell", "resolution": "2K", "power": "battery or wired", "night_vision": True, "local_storage": True, "store_warranty_years": 1},
         "A 2K video doorbell with package detection, two-way talk and free local video storage, no subscription required."),
        ("Northwind Insulated Bottle 32 Oz, Glacier", 39.0,
         {"brand": "Northwind", "capacity_oz": 32, "material": "18/8 stainless steel", "cold_hours": 24, "hot_hours": 12, "color": "glacier", "store_warranty_years": 2},
         "A double-wall vacuum-insulated bottle that keeps water cold for 24 hours, with a leakproof chug cap."),
        ("Northwind Insulated Bottle 32 Oz, Basalt", 39.0,
         {"brand": "Northwind", "capacity_oz": 32, "material": "18/8 stainless steel", "cold_hours": 24, "hot_hours": 12, "color": "basalt", "store_warranty_years": 2},
         "The 32 oz insulated bottle in basalt black with a powder-coat finish that won't sweat or slip."),
        ("Northwind Insulated Tumbler 20 Oz", 29.0,
         {"brand": "Northwind", "capacity_oz": 20, "material": "18/8 stainless steel", "lid": "slider", "dishwasher_safe": True, "store_warranty_years": 2},
         "A dishwasher-safe insulated tumbler with a splash-proof slider lid that fits most car cup holders."),
        ("Timberline Thread Wool Throw Blanket", 129.0,
         {"brand": "Timberline Thread", "material": "merino-lambswool blend", "size_in": "50x70", "pattern": "camp stripe"},
         "A heavy woven wool throw with a classic camp stripe, made in a family-run mill."),
        ("Timberline Thread Stonewashed Linen Sheet Set, Queen", 189.0,
         {"brand": "Timberline Thread", "material": "100% French flax linen", "size": "queen", "pieces": 4},
         "A breathable stonewashed linen sheet set with a fitted sheet for mattresses up to 16 inches deep."),
    ]
    for title, price, attrs, desc in items:
        add("HOM", cat, title, price, attrs, desc)


# --------------------------------------------------------------------------- Books
BOOKS = [
    ("The Quiet Trail: A Year Walking the Cascade Crest", "Maren Ellery", "Paperback", 312, 2023, "Memoir", "Switchback Press", 18.99,
     "A thoughtful memoir of a year spent hiking the Cascade crest, season by season, after leaving a job in tech."),
    ("Backcountry Cooking Made Simple", "Theo Lindqvist", "Paperback", 224, 2022, "Cookbook", "Switchback Press", 22.99,
     "More than 90 one-pot recipes for the trail, with dehydrating guides and meal plans for weekend and week-long trips."),
    ("Knots for Campers and Climbers", "Ruth Okafor", "Spiral-bound", 128, 2021, "Outdoor skills", "Quarry Lane Publishing", 14.99,
     "Step-by-step photos for 40 essential knots, from the bowline to the prusik, in a spiral binding that lies flat."),
    ("Reading the Sky: Weather for Hikers", "Dev Raman", "Paperback", 208, 2024, "Outdoor skills", "Quarry Lane Publishing", 19.99,
     "Learn to read clouds, wind and pressure changes to predict mountain storms before they arrive."),
    ("Leave Only Footprints: A Guide to Low-Impact Camping", "Hana Sato", "Paperback", 176, 2022, "Outdoor skills", "Tidepool Books", 16.99,
     "Practical guidance on campsite selection, waste, fire and wildlife for campers who want to protect the places they love."),
    ("The Ultralight Handbook", "Colin Marsh", "Paperback", 256, 2023, "Outdoor skills", "Switchback Press", 24.99,
     "How to cut your base weight below 4.5 kg without sacrificing safety, with gear checklists and real trip examples."),
    ("Wild Edibles of the Pacific Northwest", "Iris Calder", "Paperback", 288, 2020, "Field guide", "Tidepool Books", 26.99,
     "A field guide to 120 edible plants, berries and mushrooms, with color photos and the poisonous look-alikes to avoid."),
    ("First Aid in the Wilderness, 3rd Edition", "Dr. Amara Bennett", "Paperback", 240, 2024, "Outdoor skills", "Quarry Lane Publishing", 21.99,
     "The updated standard guide to treating injuries and illness far from help, written by an emergency physician."),
    ("Map and Compass: Navigation Without a Phone", "Pieter Vos", "Paperback", 160, 2021, "Outdoor skills", "Quarry Lane Publishing", 17.99,
     "A clear introduction to topographic maps, bearings and triangulation, with practice exercises you can do in a park."),
    ("Cast Iron Every Day", "Lucia Moreno", "Hardcover", 272, 2022, "Cookbook", "Lantern House", 32.99,
     "Over 100 recipes for skillet, Dutch oven and griddle, plus a chapter on seasoning and restoring rusty pans."),
    ("Slow Mornings: Coffee at Home", "Jonah Reyes", "Hardcover", 192, 2023, "Food & drink", "Lantern House", 27.99,
     "A barista's guide to brewing great coffee at home with pour-over, French press and espresso, with a grind-size chart."),
    ("The Small Kitchen Garden", "Priya Nair", "Paperback", 216, 2021, "Home & garden", "Tidepool Books", 19.99,
     "Grow herbs, greens and tomatoes on a balcony or windowsill with month-by-month planting calendars."),
    ("Python for Curious Beginners", "Elena Varga", "Paperback", 384, 2024, "Technology", "Lantern House", 34.99,
     "A friendly introduction to programming with small projects like a weather logger and a trail-mileage tracker."),
    ("Build Your Own Home Network", "Sam Adeyemi", "Paperback", 296, 2023, "Technology", "Lantern House", 29.99,
     "Plan, secure and troubleshoot a home Wi-Fi network, from router placement to guest networks and smart-home devices."),
    ("The Lighthouse Keeper's Map", "Clara Fenwick", "Hardcover", 368, 2024, "Fiction", "Lantern House", 27.99,
     "A novel about a young cartographer who inherits her grandfather's lighthouse and a hand-drawn map that leads to a family secret."),
    ("North of Everything", "Tobias Hale", "Paperback", 336, 2022, "Fiction", "Tidepool Books", 17.99,
     "Two estranged brothers paddle the Yukon River to scatter their father's ashes in this funny, moving road-trip novel."),
    ("Salt and Cedar", "Naomi Park", "Paperback", 304, 2023, "Fiction", "Switchback Press", 16.99,
     "Three generations of a fishing family on the Oregon coast face a changing ocean and a long-kept promise."),
    ("The Last Ferry to Orcas", "Graham Whitlow", "Paperback", 352, 2021, "Mystery", "Tidepool Books", 15.99,
     "When a ferry arrives with one passenger missing, a retired detective on vacation is pulled into an island mystery."),
    ("The Orbit of Small Things", "Yusuf Adler", "Hardcover", 416, 2024, "Science fiction", "Lantern House", 28.99,
     "A botanist on a generation ship discovers that the ship's garden is quietly changing its course."),
    ("Stargazing for Beginners: A Field Guide", "Kai Morita", "Paperback", 144, 2022, "Field guide", "Quarry Lane Publishing", 18.99,
     "Seasonal star charts for the Northern Hemisphere and tips for finding planets and galaxies with binoculars."),
    ("Birds of the Western Forests", "Evelyn Shaw", "Flexibound", 320, 2020, "Field guide", "Tidepool Books", 24.99,
     "A compact guide to 300 species, with range maps, song descriptions and illustrations of males, females and juveniles."),
    ("Strong at Any Age", "Marcus Bell", "Paperback", 232, 2023, "Health & fitness", "Switchback Press", 21.99,
     "A strength-training program with dumbbells and kettlebells for adults over 40, with three levels and 12-week plans."),
    ("The Runner's Recovery Book", "Ana Lucero", "Paperback", 208, 2024, "Health & fitness", "Switchback Press", 19.99,
     "Sleep, nutrition, mobility and foam-rolling routines to help runners recover faster and avoid common injuries."),
    ("Little Explorers: Camping Activities for Kids", "Beth Tran", "Paperback", 96, 2022, "Children's", "Tidepool Books", 12.99,
     "A colorful activity book for ages 5 to 9 with nature scavenger hunts, knot games and campfire stories."),
    ("Paddle Routes of the Columbia River Gorge", "Owen Brandt", "Paperback", 184, 2021, "Guidebook", "Switchback Press", 22.99,
     "Thirty kayak and canoe routes with put-in maps, river hazards and the best times of year to paddle each one."),
    ("Photographing the Outdoors with Your Phone", "Rosa Lindgren", "Paperback", 176, 2024, "Photography", "Quarry Lane Publishing", 23.99,
     "Composition, light and editing tips for landscape, night-sky and wildlife photos using only a smartphone."),
]


def gen_books() -> None:
    cat = "Books"
    for title, author, fmt, pages, year, genre, publisher, price, blurb in BOOKS:
        attrs = {"author": author, "format": fmt.lower(), "pages": pages, "publisher": publisher, "year": year,
                 "genre": genre, "language": "English"}
        desc = f"{blurb} {fmt}, {pages} pages, {publisher} ({year})."
        add("BOK", cat, f"{title} by {author} ({fmt})", price, attrs, desc)


# --------------------------------------------------------------------------- Fitness
def gen_fitness() -> None:
    cat = "Fitness"
    items = [
        ("Pulsewise Band 3 Fitness Tracker, Black", 79.0,
         {"brand": "Pulsewise", "type": "fitness tracker", "battery_days": 10, "heart_rate": True, "sleep_tracking": True, "water_rating": "5 ATM", "color": "black", "store_warranty_years": 1},
         "A slim fitness tracker with heart-rate and sleep tracking, 10-day battery life and swim tracking to 50 m."),
        ("Pulsewise Band 3 Fitness Tracker, Lilac", 79.0,
         {"brand": "Pulsewise", "type": "fitness tracker", "battery_days": 10, "heart_rate": True, "sleep_tracking": True, "water_rating": "5 ATM", "color": "lilac", "store_warranty_years": 1},
         "The Band 3 in lilac, with a soft silicone strap and silent vibration alarms that wake you without waking your partner."),
        ("Pulsewise Trek GPS Smartwatch 41mm", 299.0,
         {"brand": "Pulsewise", "type": "smartwatch", "case_mm": 41, "gps": "dual-band", "battery_days": 7, "offline_maps": True, "store_warranty_years": 1},
         "A GPS smartwatch with dual-band positioning, offline topo maps and breadcrumb navigation back to the trailhead."),
        ("Pulsewise Trek GPS Smartwatch 45mm", 329.0,
         {"brand": "Pulsewise", "type": "smartwatch", "case_mm": 45, "gps": "dual-band", "battery_days": 11, "offline_maps": True, "store_warranty_years": 1},
         "The larger Trek with a bigger display and up to 11 days of battery in smartwatch mode, or 40 hours with GPS on."),
        ("Pulsewise Chest Heart Rate Monitor Strap", 69.0,
         {"brand": "Pulsewise", "type": "heart rate strap", "connectivity": ["Bluetooth", "ANT+"], "battery": "CR2032", "store_warranty_years": 1},
         "An accurate chest-strap heart rate monitor that connects to watches, bike computers and gym equipment."),
        ("Pulsewise Smart Body Composition Scale", 59.0,
         {"brand": "Pulsewise", "type": "smart scale", "metrics": ["weight", "body fat", "muscle mass", "BMI"], "users": 8, "store_warranty_years": 1},
         "A Wi-Fi scale that recognizes up to eight users and syncs weight and body-composition trends to the Pulsewise app."),
        ("IronLeaf Adjustable Dumbbells 5-52.5 lb (Pair)", 379.0,
         {"brand": "IronLeaf", "type": "dumbbells", "weight_range_lb": "5-52.5", "increments_lb": 2.5, "pair": True},
         "A pair of dial-adjustable dumbbells that replace 15 sets of weights, changing from 5 to 52.5 lb in seconds."),
        ("IronLeaf Cast Iron Kettlebell 16 kg", 64.0,
         {"brand": "IronLeaf", "type": "kettlebell", "weight_kg": 16, "material": "cast iron", "finish": "powder coat"},
         "A single-piece cast-iron kettlebell with a wide, textured handle for swings, goblet squats and Turkish get-ups."),
        ("IronLeaf Cast Iron Kettlebell 24 kg", 89.0,
         {"brand": "IronLeaf", "type": "kettlebell", "weight_kg": 24, "material": "cast iron", "finish": "powder coat"},
         "A heavier 24 kg cast-iron kettlebell with a flat base that stands stable for renegade rows."),
        ("IronLeaf Rubber Hex Dumbbells 15 lb (Pair)", 54.0,
         {"brand": "IronLeaf", "type": "dumbbells", "weight_lb": 15, "pair": True, "material": "rubber-coated cast iron"},
         "Rubber-coated hex dumbbells that don't roll away and protect floors, with knurled chrome handles."),
        ("IronLeaf Foldable Adjustable Weight Bench", 189.0,
         {"brand": "IronLeaf", "type": "bench", "positions": 7, "capacity_kg": 300, "foldable": True},
         "A seven-position bench from decline to upright that folds flat to slide under a bed."),
        ("IronLeaf Doorway Pull-Up Bar", 39.0,
         {"brand": "IronLeaf", "type": "pull-up bar", "door_width_in": "24-36", "capacity_kg": 136, "no_screws": True},
         "A no-screw doorway bar with three grip positions for pull-ups, chin-ups and hanging leg raises."),
        ("IronLeaf T2 Folding Treadmill", 799.0,
         {"brand": "IronLeaf", "type": "treadmill", "max_speed_mph": 10, "incline_percent": 12, "foldable": True, "capacity_kg": 136, "store_warranty_years": 1},
         "A folding home treadmill with 12% incline, a cushioned deck and a tablet holder; it folds upright with a gas-assist lift."),
        ("IronLeaf C1 Indoor Cycling Bike", 649.0,
         {"brand": "IronLeaf", "type": "indoor bike", "resistance": "magnetic", "levels": 100, "bluetooth": True, "store_warranty_years": 1},
         "A quiet magnetic-resistance bike with 100 levels and Bluetooth that works with popular cycling apps."),
        ("IronLeaf R3 Magnetic Rowing Machine", 549.0,
         {"brand": "IronLeaf", "type": "rower", "resistance": "magnetic", "levels": 16, "foldable": True, "store_warranty_years": 1},
         "A full-body rower with 16 resistance levels and a performance monitor that stores upright for small spaces."),
        ("Stride Labs Pro Yoga Mat 5mm, Slate", 78.0,
         {"brand": "Stride Labs", "type": "yoga mat", "thickness_mm": 5, "material": "natural rubber with PU top", "size_cm": "183x68", "color": "slate"},
         "A grippy 5 mm yoga mat with a polyurethane top layer that stays non-slip even in hot yoga, with alignment lines."),
        ("Stride Labs Pro Yoga Mat 5mm, Clay", 78.0,
         {"brand": "Stride Labs", "type": "yoga mat", "thickness_mm": 5, "material": "natural rubber with PU top", "size_cm": "183x68", "color": "clay"},
         "The Pro yoga mat in a warm clay color, with a carry strap included."),
        ("Stride Labs Cork Yoga Block Set (2)", 29.0,
         {"brand": "Stride Labs", "type": "yoga block", "material": "cork", "count": 2},
         "Two sustainably harvested cork blocks that are firm, grippy and naturally antimicrobial."),
        ("Stride Labs Resistance Band Set (5 Levels)", 34.0,
         {"brand": "Stride Labs", "type": "resistance bands", "levels": 5, "max_resistance_lb": 150, "includes": ["handles", "door anchor", "ankle straps"]},
         "Five stackable latex-free bands up to 150 lb combined, with handles, ankle straps and a door anchor for full-body workouts."),
        ("Stride Labs High-Density Foam Roller 18-Inch", 29.0,
         {"brand": "Stride Labs", "type": "foam roller", "length_in": 18, "density": "high", "texture": "grid"},
         "A textured high-density foam roller for loosening calves, quads and upper back after a run or hike."),
        ("Stride Labs Speed Jump Rope", 19.99,
         {"brand": "Stride Labs", "type": "jump rope", "adjustable": True, "bearings": True},
         "A ball-bearing speed rope with an adjustable steel cable for double-unders and HIIT sessions."),
        ("Stride Labs Wooden Balance Board", 59.0,
         {"brand": "Stride Labs", "type": "balance board", "material": "birch plywood", "capacity_kg": 136},
         "A birch balance board that builds ankle stability and core strength for hikers, skiers and surfers."),
        ("Stride Labs Trail Hydration Vest 5L", 99.0,
         {"brand": "Stride Labs", "type": "hydration vest", "volume_l": 5, "soft_flasks_included": 2, "sizes": ["XS/S", "M/L", "XL/XXL"]},
         "A bounce-free running vest with two 500 ml soft flasks, pole loops and room for a rain jacket on long trail runs."),
        ("Stride Labs Percussion Massage Gun", 129.0,
         {"brand": "Stride Labs", "type": "massage gun", "speeds": 5, "attachments": 6, "battery_hours": 4, "store_warranty_years": 1},
         "A quiet percussion massager with five speeds and six attachments that fits in a gym bag."),
    ]
    for title, price, attrs, desc in items:
        add("FIT", cat, title, price, attrs, desc)


# --------------------------------------------------------------------------- clearance / final sale
FINAL_SALE_TITLES = {
    "Aster Book 15 Laptop, 8GB RAM, 512GB SSD",
    "Orbit A5 5G Smartphone, 128GB, Ocean Blue (Unlocked)",
    "Tidewater Wave Mini Portable Bluetooth Speaker, Sunset Orange",
    "Alpenglow Double Sleeping Bag for Two",
    "Northwind Ember Down Vest, Men's",
    "Brightwell 4-Slice Wide-Slot Toaster",
    "Stride Labs Wooden Balance Board",
}


def apply_final_sale() -> None:
    found = set()
    for row in ROWS:
        if row["title"] in FINAL_SALE_TITLES:
            found.add(row["title"])
            price = float(row["price"])
            sale = int(price * 0.7) + 0.97  # clearance prices end in .97
            row["price"] = f"{sale:.2f}"
            row["attributes"]["final_sale"] = True
            row["attributes"]["was_price"] = price
            row["description"] += " Clearance: final sale, this item can't be returned or exchanged."
    missing = FINAL_SALE_TITLES - found
    assert not missing, f"final-sale titles not in catalog: {missing}"


def build(out: Path = OUT) -> list[dict]:
    ROWS.clear()
    _counters.clear()
    rng.seed(SEED)
    gen_laptops()
    gen_phones()
    gen_audio()
    gen_camping()
    gen_apparel()
    gen_footwear()
    gen_home()
    gen_books()
    gen_fitness()
    apply_final_sale()

    skus = [r["sku"] for r in ROWS]
    titles = [r["title"] for r in ROWS]
    assert len(set(skus)) == len(skus), "duplicate SKU"
    dup = {t for t in titles if titles.count(t) > 1}
    assert not dup, f"duplicate titles: {dup}"

    with out.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(HEADER)
        for r in ROWS:
            w.writerow([r["sku"], r["title"], r["category"], r["price"], r["currency"], r["stock"],
                        json.dumps(r["attributes"], ensure_ascii=False), r["description"]])
    return ROWS


if __name__ == "__main__":
    rows = build()
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["category"]] = counts.get(r["category"], 0) + 1
    print(f"wrote {OUT} ({len(rows)} products)")
    for c, n in counts.items():
        print(f"  {c}: {n}")
