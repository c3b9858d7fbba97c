"""Generate documents/product-care-and-safety.pdf for the Northwind Outfitters sample store.

Usage (from anywhere):

    python knowledge_base/sample_store/tools/make_pdf.py

Requires fpdf2 (``pip install fpdf2``). The output is deterministic apart from
fpdf2 internals: the creation date is fixed so that re-running the script does
not produce a spurious diff. Only core PDF fonts are used, so the text is kept
to plain ASCII.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from fpdf import FPDF

OUT = Path(__file__).resolve().parent.parent / "documents" / "product-care-and-safety.pdf"

TITLE = "Product Care and Safety Guide"
STORE = "Northwind Outfitters"

# Each section: (heading, [blocks]); a block is a paragraph string or a list of bullet strings.
# A heading starting with "  " is rendered as a subheading.
SECTIONS: list[tuple[str, list]] = [
    (
        "About This Guide",
        [
            "This guide explains how to use, clean and store the products you buy from "
            "Northwind Outfitters so that they stay safe and last for many seasons. It covers "
            "battery-powered electronics, outdoor gear, apparel and kitchenware. Always read the "
            "manual that came with your product first: if the manufacturer's instructions differ "
            "from this guide, follow the manufacturer's instructions.",
        ],
    ),
    (
        "1. Battery Safety",
        [
            "Laptops, phones, tablets, headphones, headlamps, power banks and portable power "
            "stations all use lithium-ion or lithium-polymer batteries. These batteries store a lot "
            "of energy in a small space and are safe when they are handled correctly.",
        ],
    ),
    (
        "  Charging",
        [
            [
                "Use the charger and cable supplied with the product, or a certified replacement with "
                "the same voltage and connector. Damage caused by non-compatible chargers is not "
                "covered by the warranty.",
                "Charge on a hard, non-flammable surface. Do not charge devices on a bed, a sofa or "
                "under a pillow, and never charge inside a sleeping bag or a closed tent.",
                "Do not charge batteries below 32 F (0 C) or above 113 F (45 C). Let a cold device warm "
                "up to room temperature before charging it.",
                "Unplug fully charged power stations and power banks; do not leave them on the charger "
                "for days at a time.",
            ]
        ],
    ),
    (
        "  Warning Signs",
        [
            "Stop using a battery-powered product immediately and contact us if the battery swells "
            "or the case bulges, if it becomes very hot during normal use, if you notice a sweet or "
            "chemical smell, hissing or smoke, or if the device was crushed, punctured or dropped "
            "into water. Move it outdoors, away from anything flammable, if you can do so safely. "
            "Never try to open, repair or puncture a lithium battery yourself.",
        ],
    ),
    (
        "  Travel and Shipping",
        [
            "Airlines allow lithium batteries up to 100 Wh in carry-on baggage only; spare batteries "
            "and power banks must never be packed in checked luggage. Most of our power banks are "
            "below this limit, and the watt-hour rating is printed on the label. Portable power "
            "stations and other batteries larger than 100 Wh can only be shipped within the "
            "contiguous United States, and cannot be taken on passenger aircraft.",
        ],
    ),
    (
        "  Disposal and Recycling",
        [
            "Do not put batteries or electronics in household trash or recycling bins, where they "
            "can start fires in collection trucks. Tape over the terminals and take them to a "
            "battery drop-off point or an electronics recycler. Our Portland flagship store accepts "
            "small batteries and old electronics for recycling free of charge.",
        ],
    ),
    (
        "2. Cleaning",
        [
            "Regular, gentle cleaning keeps technical fabrics breathable, keeps zippers running "
            "smoothly and prevents mold and corrosion. Check the care label first; the tips below "
            "apply to most products we sell.",
        ],
    ),
    (
        "  Waterproof Jackets and Pants",
        [
            "Wash waterproof shells when they look dirty or stop beading water, usually every 10 to "
            "20 days of use. Close all zippers, use a technical wash without fabric softener, and "
            "rinse twice. Tumble dry on low heat for 20 minutes to reactivate the water-repellent "
            "finish. Never dry-clean waterproof fabrics.",
        ],
    ),
    (
        "  Down Jackets and Sleeping Bags",
        [
            "Wash down products in a front-loading machine on a gentle cycle with a down-specific "
            "detergent. Dry them on low heat with two or three clean tennis balls to break up clumps; "
            "a sleeping bag can take three hours or more to dry completely. Make sure the down is "
            "fully dry before storing it to avoid mildew.",
        ],
    ),
    (
        "  Tents",
        [
            "Never machine-wash a tent. Set it up, sponge it with lukewarm water and a mild, "
            "non-detergent soap, and let it dry completely in the shade. Clean zippers with a soft "
            "brush; sand in the zipper track is the most common cause of broken tent zippers.",
        ],
    ),
    (
        "  Cookware",
        [
            [
                "Cast iron: rinse with hot water, scrub with a brush, dry over low heat and wipe with a "
                "thin layer of oil. Avoid soaking.",
                "Nonstick pans: wash by hand with a soft sponge and avoid metal utensils. Do not heat an "
                "empty nonstick pan above medium heat.",
                "Stainless steel: dishwasher safe. Remove heat tint with a paste of baking soda and "
                "water.",
            ]
        ],
    ),
    (
        "  Electronics",
        [
            "Turn devices off and unplug them before cleaning. Wipe screens with a soft, lint-free "
            "cloth slightly dampened with water or a 70% isopropyl alcohol wipe. Do not spray liquid "
            "directly onto a device, and never use window cleaner, bleach or abrasive powders. Clean "
            "earbud tips with a dry cotton swab; removable silicone tips can be rinsed in water and "
            "must be completely dry before you put them back.",
        ],
    ),
    (
        "3. Storage",
        [
            "Most gear is damaged not on the trail but in the garage. Store clean, dry gear out of "
            "direct sunlight, in a place that stays between 40 F and 80 F (4 C and 27 C).",
            [
                "Tents: store loosely in a breathable bag in a cool, dry place, never in the stuff sack "
                "while damp. Dry a wet tent within 24 hours of returning home.",
                "Sleeping bags: store uncompressed in the large cotton storage sack supplied with the "
                "bag. Long-term compression reduces loft and warmth.",
                "Stoves and fuel: disconnect fuel canisters from the stove. Store canisters upright, "
                "below 120 F (49 C), away from living areas and out of reach of children.",
                "Batteries: for storage longer than one month, charge lithium batteries to 40-60% "
                "and store them at room temperature. Top up power stations every 3 months.",
                "Boots: remove the insoles, stuff the boots with newspaper and let them dry at room "
                "temperature, away from radiators and campfires, which crack leather.",
            ]
        ],
    ),
    (
        "4. Product Recalls and Safety Notices",
        [
            "We take product safety seriously and work closely with the brands we sell. When a "
            "manufacturer or a safety authority announces a recall of a product sold by Northwind "
            "Outfitters, we:",
            [
                "email every customer who bought the product, using the email address on the order, "
                "including guest orders;",
                "list the recall, the affected model and serial numbers, and the remedy on our "
                "Product Safety page at northwind-outfitters.example/safety;",
                "provide a free remedy - a repair, a replacement or a full refund - regardless of "
                "when you bought the product. The 30-day return window does not apply to recalled "
                "products;",
                "send a prepaid shipping label if the product needs to come back to us.",
            ],
            "If you own a recalled product, stop using it immediately and follow the instructions "
            "in the recall notice. Do not return a recalled battery-powered product by regular mail "
            "unless we send you a special label, because damaged lithium batteries require special "
            "packaging.",
        ],
    ),
    (
        "  Reporting a Safety Problem",
        [
            "If a product caused an injury or property damage, or you believe it is unsafe, email "
            "safety@northwind-outfitters.example or call 1-800-555-0199 (Monday to Friday, 6:00 a.m. "
            "to 6:00 p.m. PT; Saturday, 8:00 a.m. to 4:00 p.m. PT). Please keep the product and its "
            "packaging. In the United States you can also report unsafe products to the U.S. "
            "Consumer Product Safety Commission.",
        ],
    ),
    (
        "5. Warranty and Support",
        [
            "Most problems that appear during normal use are covered by the manufacturer's warranty "
            "and, for electronics, by the Northwind Store Warranty: 2 years for laptops, phones and "
            "tablets, and 1 year for other electronics. Accidental damage, water damage to products "
            "that are not waterproof, and damage from non-compatible chargers are not covered. To "
            "make a claim, go to northwind-outfitters.example/warranty or contact "
            "support@northwind-outfitters.example.",
        ],
    ),
]


class GuidePDF(FPDF):
    def header(self) -> None:
        self.set_font("Helvetica", "", 8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 6, f"{STORE} - {TITLE}", align="R", new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def footer(self) -> None:
        self.set_y(-14)
        self.set_font("Helvetica", "", 8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 6, f"Page {self.page_no()} of {{nb}}  |  Edition March 2025", align="C")


def build(out: Path = OUT) -> Path:
    pdf = GuidePDF(format="Letter")
    pdf.set_title(TITLE)
    pdf.set_author(STORE)
    pdf.set_subject("Battery safety, cleaning, storage and product recalls")
    pdf.set_creator("knowledge_base/sample_store/tools/make_pdf.py")
    pdf.set_creation_date(datetime(2025, 3, 1, tzinfo=timezone.utc))
    pdf.set_margins(20, 16, 20)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.alias_nb_pages()
    pdf.add_page()

    pdf.set_text_color(31, 77, 58)
    pdf.set_font("Helvetica", "B", 20)
    pdf.cell(0, 11, TITLE, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    pdf.set_text_color(60, 60, 60)
    pdf.cell(0, 6, f"{STORE}, Inc. - 2150 NW Foundry Street, Portland, OR 97209", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)

    for heading, blocks in SECTIONS:
        sub = heading.startswith("  ")
        # Keep a heading together with at least a few lines of its text.
        if pdf.get_y() > pdf.h - pdf.b_margin - (22 if sub else 30):
            pdf.add_page()
        pdf.set_text_color(31, 77, 58)
        if sub:
            pdf.set_font("Helvetica", "B", 11.5)
            pdf.ln(1)
            pdf.cell(0, 6.5, heading.strip(), new_x="LMARGIN", new_y="NEXT")
        else:
            pdf.set_font("Helvetica", "B", 14)
            pdf.ln(3)
            pdf.cell(0, 8, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(30, 30, 30)
        pdf.set_font("Helvetica", "", 10)
        for block in blocks:
            if isinstance(block, str):
                pdf.multi_cell(0, 5, block, new_x="LMARGIN", new_y="NEXT")
                pdf.ln(1.5)
            else:
                for item in block:
                    pdf.set_x(pdf.l_margin + 3)
                    pdf.cell(5, 5, "-")
                    pdf.multi_cell(0, 5, item, new_x="LMARGIN", new_y="NEXT")
                    pdf.ln(0.8)
                pdf.ln(1)

    out.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(out))
    return out


if __name__ == "__main__":
    path = build()
    print(f"wrote {path} ({path.stat().st_size} bytes)")
