"""Word lists for the demo catalog: the department → subcategory → leaf tree, brand syllables, seller names."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from bazaar.tax.categories import check_tax_category


@dataclass(frozen=True)
class Axis:
    """A SKU attribute and the values it may take (the first axis of a department varies between SKUs)."""

    name: str
    values: tuple[str, ...]
    prices: tuple[float, ...] = ()  # price multiplier per value, when bigger variants cost more


@dataclass(frozen=True)
class Sub:
    """A subcategory: its price band in dollars, weight band in grams, title features and leaf categories."""

    name: str
    price: tuple[int, int]
    grams: tuple[int, int]
    features: tuple[str, ...]
    leaves: dict[str, tuple[str, ...]]
    axes: tuple[Axis, ...] = ()  # overrides the department's axes when set


@dataclass(frozen=True)
class Department:
    name: str
    tax_category: str
    axes: tuple[Axis, ...]
    attributes: dict[str, tuple[str, ...]]
    phrases: tuple[str, ...]
    subs: tuple[Sub, ...] = field(default=())

    def __post_init__(self) -> None:
        check_tax_category(self.tax_category)


COLOURS = Axis("colour", ("Black", "White", "Silver", "Graphite", "Navy", "Red", "Forest Green", "Sand", "Sky Blue"))
HOME_COLOURS = Axis("colour", ("White", "Charcoal", "Oak", "Walnut", "Sage", "Terracotta", "Ivory", "Slate", "Mustard"))
APPAREL_COLOURS = Axis("colour", ("Black", "White", "Navy", "Olive", "Burgundy", "Heather Grey", "Camel", "Denim Blue"))
CLOTHING_SIZES = Axis("size", ("XS", "S", "M", "L", "XL", "XXL"))
SHOE_SIZES = Axis("size", ("6", "7", "8", "9", "10", "11", "12"))
STORAGE = Axis("storage", ("64 GB", "128 GB", "256 GB", "512 GB", "1 TB"), (1.0, 1.15, 1.35, 1.7, 2.2))
BOOK_FORMATS = Axis("format", ("Hardcover", "Paperback", "Large Print", "Spiral-Bound"))
VOLUMES = Axis("size", ("30 ml", "50 ml", "100 ml", "200 ml", "400 ml"), (0.6, 0.8, 1.0, 1.6, 2.6))
SHADES = Axis("shade", ("Porcelain", "Ivory", "Beige", "Honey", "Caramel", "Mocha", "Espresso", "Rose", "Coral"))
PACKS = Axis("pack", ("Single", "Pack of 2", "Pack of 3", "Pack of 6", "Pack of 12"), (1.0, 1.9, 2.8, 5.4, 10.0))
WEIGHTS = Axis("weight", ("250 g", "500 g", "1 kg", "2 kg", "5 kg"), (1.0, 1.8, 3.4, 6.5, 15.0))
PET_SIZES = Axis("size", ("Small", "Medium", "Large", "X-Large"))
TOOL_KITS = Axis("kit", ("Tool Only", "With 1 Battery", "With 2 Batteries", "Combo Kit"), (1.0, 1.4, 1.7, 2.2))

DEPARTMENTS: tuple[Department, ...] = (
    Department(
        "Electronics",
        "general",
        (COLOURS,),
        {"warranty": ("1 year", "2 years", "3 years"), "power": ("Battery", "USB-C", "Mains", "Rechargeable")},
        (
            "Setup takes minutes and firmware updates arrive over the air.",
            "Built to last with a sturdy, premium finish.",
            "Backed by the manufacturer's warranty and responsive support.",
            "Energy-efficient design keeps running costs low.",
            "Works with the devices you already own.",
        ),
        (
            Sub(
                "Audio",
                (15, 450),
                (20, 4000),
                (
                    "Wireless",
                    "Noise-Cancelling",
                    "Bluetooth",
                    "Hi-Fi",
                    "Studio",
                    "Portable",
                    "Waterproof",
                    "Bass-Boosted",
                ),
                {
                    "Headphones": ("Headphones", "Over-Ear Headphones", "On-Ear Headphones"),
                    "Earbuds": ("Earbuds", "True Wireless Earbuds", "In-Ear Monitors"),
                    "Speakers": ("Speaker", "Bookshelf Speakers", "Party Speaker"),
                    "Soundbars": ("Soundbar", "Soundbar with Subwoofer"),
                },
            ),
            Sub(
                "Computers",
                (250, 2600),
                (900, 9000),
                ("Ultra-Slim", "Gaming", "Business", "Quiet", "High-Performance", "Compact"),
                {
                    "Laptops": ("Laptop", "Notebook", "2-in-1 Laptop"),
                    "Desktops": ("Desktop PC", "All-in-One PC", "Mini PC"),
                    "Monitors": ("Monitor", "4K Monitor", "Curved Monitor"),
                },
            ),
            Sub(
                "Computer Accessories",
                (10, 250),
                (30, 1500),
                ("Wireless", "Ergonomic", "Mechanical", "Backlit", "Compact", "Silent"),
                {
                    "Keyboards": ("Keyboard", "Mechanical Keyboard", "Compact Keyboard"),
                    "Mice": ("Mouse", "Wireless Mouse", "Trackball"),
                    "Webcams": ("Webcam", "4K Webcam"),
                    "USB Hubs": ("USB-C Hub", "Docking Station"),
                },
            ),
            Sub(
                "Phones & Tablets",
                (120, 1400),
                (120, 800),
                ("Unlocked", "Dual-SIM", "Rugged", "Slim", "5G", "Compact"),
                {
                    "Smartphones": ("Smartphone", "Flip Phone"),
                    "Tablets": ("Tablet", "Drawing Tablet"),
                    "E-Readers": ("E-Reader", "E-Ink Tablet"),
                },
                (STORAGE, COLOURS),
            ),
            Sub(
                "Phone Accessories",
                (8, 120),
                (20, 400),
                ("Fast-Charging", "MagSafe-Compatible", "Slim", "Rugged", "Braided", "Clear"),
                {
                    "Phone Cases": ("Phone Case", "Wallet Case", "Bumper Case"),
                    "Chargers & Cables": ("Charger", "USB-C Cable", "Power Bank"),
                    "Screen Protectors": ("Screen Protector", "Privacy Screen Protector"),
                },
            ),
            Sub(
                "Cameras",
                (150, 3200),
                (100, 2000),
                ("Mirrorless", "Full-Frame", "Compact", "Weather-Sealed", "Stabilised", "4K"),
                {
                    "Digital Cameras": ("Camera", "Mirrorless Camera", "Point-and-Shoot Camera"),
                    "Camera Lenses": ("Prime Lens", "Zoom Lens", "Macro Lens"),
                    "Action Cameras": ("Action Camera", "Helmet Camera"),
                },
            ),
            Sub(
                "TV & Video",
                (150, 3000),
                (1500, 25000),
                ("4K", "OLED", "Smart", "HDR", "Ultra-Thin", "Short-Throw"),
                {"Televisions": ("TV", "OLED TV", "QLED TV"), "Projectors": ("Projector", "Mini Projector")},
            ),
            Sub(
                "Video Accessories",
                (12, 200),
                (50, 3000),
                ("Travel", "Tilting", "Compact", "Padded", "4K"),
                {
                    "Streaming Devices": ("Streaming Stick", "Media Player"),
                    "Tripods": ("Tripod", "Travel Tripod", "Monopod"),
                    "TV Mounts": ("TV Wall Mount", "Full-Motion TV Mount"),
                },
            ),
            Sub(
                "Wearables",
                (20, 900),
                (20, 200),
                ("GPS", "Waterproof", "Solar", "Slim", "Always-On"),
                {
                    "Smartwatches": ("Smartwatch", "Hybrid Smartwatch"),
                    "Fitness Trackers": ("Fitness Tracker", "Heart Rate Band"),
                },
            ),
        ),
    ),
    Department(
        "Home & Kitchen",
        "general",
        (HOME_COLOURS,),
        {
            "material": ("Stainless Steel", "Cast Iron", "Bamboo", "Solid Oak", "Ceramic", "Tempered Glass", "Cotton"),
            "care": ("Dishwasher safe", "Hand wash only", "Machine washable", "Wipe clean"),
        },
        (
            "Designed to make everyday routines a little easier.",
            "Thoughtful details you notice every day.",
            "Made from responsibly sourced materials.",
            "Easy to clean and built to last for years.",
            "A timeless look that fits any home.",
        ),
        (
            Sub(
                "Cookware",
                (15, 400),
                (400, 7000),
                ("Non-Stick", "Tri-Ply", "Enamelled", "Induction-Ready", "Oven-Safe", "Pre-Seasoned"),
                {
                    "Frying Pans": ("Frying Pan", "Skillet", "Wok"),
                    "Saucepans": ("Saucepan", "Stockpot", "Saucier"),
                    "Dutch Ovens": ("Dutch Oven", "Casserole Dish"),
                    "Bakeware": ("Baking Sheet", "Loaf Pan", "Muffin Tin"),
                },
            ),
            Sub(
                "Small Appliances",
                (20, 700),
                (500, 9000),
                ("Programmable", "Compact", "Digital", "Stainless", "Quiet", "Smart", "Cordless"),
                {
                    "Coffee Makers": ("Coffee Maker", "Espresso Machine", "Pour-Over Brewer"),
                    "Blenders": ("Blender", "Personal Blender", "Immersion Blender"),
                    "Air Fryers": ("Air Fryer", "Air Fryer Oven"),
                    "Kettles": ("Electric Kettle", "Gooseneck Kettle"),
                    "Toasters": ("Toaster", "Toaster Oven"),
                },
            ),
            Sub(
                "Bedding",
                (15, 450),
                (300, 5000),
                ("Organic", "Percale", "Sateen", "Cooling", "Hypoallergenic", "Linen", "Quilted"),
                {
                    "Sheet Sets": ("Sheet Set", "Fitted Sheet"),
                    "Duvet Covers": ("Duvet Cover", "Duvet Cover Set"),
                    "Pillows": ("Pillow", "Memory Foam Pillow", "Body Pillow"),
                    "Blankets & Throws": ("Throw Blanket", "Weighted Blanket", "Quilt"),
                },
                (HOME_COLOURS,),
            ),
            Sub(
                "Furniture",
                (40, 2200),
                (2000, 60000),
                ("Mid-Century", "Modular", "Adjustable", "Upholstered", "Solid Wood", "Minimalist"),
                {
                    "Sofas": ("Sofa", "Sectional Sofa", "Loveseat"),
                    "Desks": ("Desk", "Standing Desk", "Writing Desk"),
                    "Office Chairs": ("Office Chair", "Ergonomic Chair"),
                    "Bookshelves": ("Bookshelf", "Ladder Shelf"),
                },
            ),
            Sub(
                "Home Decor",
                (10, 500),
                (100, 12000),
                ("Handmade", "Vintage", "Woven", "Minimalist", "Rustic", "Scandinavian"),
                {
                    "Lamps": ("Table Lamp", "Floor Lamp", "Desk Lamp"),
                    "Rugs": ("Area Rug", "Runner Rug"),
                    "Vases": ("Vase", "Bud Vase"),
                    "Wall Clocks": ("Wall Clock", "Pendulum Clock"),
                },
            ),
            Sub(
                "Storage & Organization",
                (8, 250),
                (200, 15000),
                ("Stackable", "Collapsible", "Clear", "Under-Bed", "Modular"),
                {
                    "Storage Bins": ("Storage Bin", "Storage Basket"),
                    "Shelving Units": ("Shelving Unit", "Wire Shelf"),
                    "Drawer Organizers": ("Drawer Organizer", "Cutlery Tray"),
                },
            ),
        ),
    ),
    Department(
        "Fashion",
        "clothing",
        (CLOTHING_SIZES, APPAREL_COLOURS),
        {
            "material": (
                "Organic Cotton",
                "Linen",
                "Merino Wool",
                "Recycled Polyester",
                "Denim",
                "Leather",
                "Cashmere",
            ),
            "fit": ("Regular", "Slim", "Relaxed", "Oversized"),
        },
        (
            "Cut for comfort and made to move with you.",
            "Pairs easily with the rest of your wardrobe.",
            "Pre-washed for a soft feel from the first wear.",
            "Ethically made in audited factories.",
            "Reinforced seams for a longer life.",
        ),
        (
            Sub(
                "Women's Clothing",
                (15, 260),
                (150, 1500),
                ("Linen", "Wrap", "High-Rise", "Cropped", "Oversized", "Knit", "Pleated", "Floral"),
                {
                    "Dresses": ("Dress", "Midi Dress", "Maxi Dress", "Shirt Dress"),
                    "Tops & Blouses": ("Blouse", "Tank Top", "Tunic"),
                    "Women's Jeans": ("Jeans", "Skinny Jeans", "Wide-Leg Jeans"),
                    "Women's Sweaters": ("Sweater", "Cardigan", "Turtleneck"),
                },
            ),
            Sub(
                "Men's Clothing",
                (15, 300),
                (150, 1800),
                ("Slim-Fit", "Oxford", "Stretch", "Quilted", "Heavyweight", "Performance", "Flannel"),
                {
                    "Shirts": ("Shirt", "Oxford Shirt", "Linen Shirt"),
                    "T-Shirts": ("T-Shirt", "Polo Shirt", "Henley"),
                    "Chinos & Trousers": ("Chinos", "Trousers", "Cargo Pants"),
                    "Men's Jackets": ("Jacket", "Bomber Jacket", "Parka", "Rain Jacket"),
                },
            ),
            Sub(
                "Shoes",
                (25, 280),
                (300, 1800),
                ("Leather", "Waterproof", "Lightweight", "Cushioned", "Vegan", "Trail"),
                {
                    "Sneakers": ("Sneakers", "Canvas Sneakers", "Slip-On Sneakers"),
                    "Boots": ("Boots", "Chelsea Boots", "Hiking Boots"),
                    "Sandals": ("Sandals", "Slides"),
                    "Running Shoes": ("Running Shoes", "Trail Running Shoes"),
                },
                (SHOE_SIZES, APPAREL_COLOURS),
            ),
            Sub(
                "Bags & Accessories",
                (10, 400),
                (50, 1500),
                ("Leather", "Canvas", "Water-Resistant", "Convertible", "Minimalist", "RFID-Blocking"),
                {
                    "Backpacks": ("Backpack", "Laptop Backpack", "Rolltop Backpack"),
                    "Handbags": ("Tote Bag", "Crossbody Bag", "Shoulder Bag"),
                    "Wallets": ("Wallet", "Cardholder"),
                    "Belts": ("Belt", "Reversible Belt"),
                },
                (APPAREL_COLOURS,),
            ),
            Sub(
                "Jewelry & Watches",
                (15, 1500),
                (10, 300),
                ("Sterling Silver", "Gold-Plated", "Automatic", "Minimalist", "Handcrafted", "Chronograph"),
                {
                    "Watches": ("Watch", "Dive Watch", "Field Watch"),
                    "Necklaces": ("Necklace", "Pendant Necklace"),
                    "Earrings": ("Earrings", "Hoop Earrings", "Stud Earrings"),
                    "Rings": ("Ring", "Stacking Ring"),
                },
                (COLOURS,),
            ),
        ),
    ),
    Department(
        "Sports & Outdoors",
        "general",
        (COLOURS,),
        {
            "material": ("Aluminium", "Carbon Fibre", "Ripstop Nylon", "Natural Rubber", "Steel", "Neoprene"),
            "skill_level": ("Beginner", "Intermediate", "Advanced", "All levels"),
        },
        (
            "Field-tested by athletes and weekend adventurers alike.",
            "Light enough to take anywhere.",
            "Built to handle rain, mud and years of use.",
            "Packs down small for travel.",
            "Designed with input from coaches and guides.",
        ),
        (
            Sub(
                "Fitness Equipment",
                (200, 1800),
                (15000, 60000),
                ("Foldable", "Smart", "Magnetic", "Quiet", "Commercial-Grade"),
                {
                    "Exercise Bikes": ("Exercise Bike", "Spin Bike"),
                    "Treadmills": ("Treadmill", "Walking Pad"),
                    "Rowing Machines": ("Rowing Machine", "Water Rower"),
                },
            ),
            Sub(
                "Fitness Accessories",
                (8, 250),
                (100, 25000),
                ("Adjustable", "Non-Slip", "Eco-Friendly", "Heavy-Duty", "Travel"),
                {
                    "Yoga Mats": ("Yoga Mat", "Travel Yoga Mat"),
                    "Dumbbells": ("Dumbbell Set", "Adjustable Dumbbells", "Kettlebell"),
                    "Resistance Bands": ("Resistance Bands", "Pull-Up Assist Band"),
                },
            ),
            Sub(
                "Camping & Hiking",
                (15, 900),
                (200, 9000),
                ("Ultralight", "Waterproof", "3-Season", "Insulated", "Packable", "Freestanding"),
                {
                    "Tents": ("Tent", "Backpacking Tent", "Family Tent"),
                    "Sleeping Bags": ("Sleeping Bag", "Down Sleeping Bag"),
                    "Hiking Backpacks": ("Hiking Backpack", "Daypack"),
                    "Camp Kitchen": ("Camp Stove", "Cookset", "Insulated Bottle"),
                },
            ),
            Sub(
                "Bikes",
                (300, 3500),
                (8000, 25000),
                ("Carbon", "Aero", "Commuter", "Gravel", "Folding", "Lightweight"),
                {
                    "Road Bikes": ("Road Bike", "Endurance Bike"),
                    "Mountain Bikes": ("Mountain Bike", "Trail Bike"),
                    "Electric Bikes": ("E-Bike", "Cargo E-Bike"),
                },
                (Axis("frame", ("XS", "S", "M", "L", "XL")), COLOURS),
            ),
            Sub(
                "Cycling Accessories",
                (12, 200),
                (100, 2000),
                ("Aero", "Commuter", "LED", "Folding", "Reflective"),
                {
                    "Bike Helmets": ("Bike Helmet", "MIPS Helmet"),
                    "Bike Lights": ("Bike Light Set", "Rear Light"),
                    "Bike Locks": ("U-Lock", "Folding Lock"),
                },
            ),
            Sub(
                "Team Sports",
                (10, 250),
                (100, 2000),
                ("Match", "Training", "Official-Size", "Indoor", "Pro"),
                {
                    "Soccer": ("Soccer Ball", "Goalkeeper Gloves", "Shin Guards"),
                    "Basketball": ("Basketball", "Basketball Hoop"),
                    "Baseball": ("Baseball Glove", "Baseball Bat"),
                },
            ),
            Sub(
                "Water Sports",
                (10, 250),
                (100, 2500),
                ("Anti-Fog", "Quick-Dry", "Buoyant", "UV-Protective", "Chlorine-Resistant"),
                {
                    "Swim Goggles": ("Swim Goggles", "Swim Mask"),
                    "Wetsuits": ("Wetsuit", "Shorty Wetsuit"),
                    "Life Jackets": ("Life Jacket", "Buoyancy Aid"),
                },
            ),
            Sub(
                "Paddle Sports",
                (150, 1200),
                (5000, 20000),
                ("Inflatable", "Touring", "All-Around", "Stable"),
                {"Paddleboards": ("Paddleboard", "Inflatable Paddleboard"), "Kayaks": ("Kayak", "Inflatable Kayak")},
            ),
        ),
    ),
    Department(
        "Toys & Games",
        "general",
        (COLOURS,),
        {
            "age_range": ("0–2 years", "3–5 years", "6–8 years", "9–12 years", "13+ years"),
            "players": ("1 player", "2 players", "2–4 players", "2–6 players"),
        },
        (
            "Hours of screen-free fun for the whole family.",
            "Safety-tested to international toy standards.",
            "Encourages creativity, problem-solving and play.",
            "Makes a great birthday or holiday gift.",
            "Sturdy pieces made for little hands.",
        ),
        (
            Sub(
                "Building Toys",
                (8, 400),
                (100, 3000),
                ("Creative", "Deluxe", "Classic", "Motorised", "Glow-in-the-Dark"),
                {
                    "Building Sets": ("Building Set", "Brick Set", "Construction Kit"),
                    "Magnetic Tiles": ("Magnetic Tiles", "Magnetic Building Set"),
                    "Marble Runs": ("Marble Run", "Marble Run Expansion"),
                },
            ),
            Sub(
                "Board Games & Puzzles",
                (8, 120),
                (200, 2500),
                ("Strategy", "Cooperative", "Family", "Party", "1000-Piece", "Travel"),
                {
                    "Board Games": ("Board Game", "Strategy Game"),
                    "Card Games": ("Card Game", "Deck-Building Game"),
                    "Jigsaw Puzzles": ("Jigsaw Puzzle", "3D Puzzle"),
                },
            ),
            Sub(
                "Dolls & Figures",
                (6, 150),
                (50, 2000),
                ("Poseable", "Collectible", "Soft", "Talking", "Deluxe"),
                {
                    "Dolls": ("Doll", "Fashion Doll", "Baby Doll"),
                    "Action Figures": ("Action Figure", "Figure Set"),
                    "Plush Toys": ("Plush Toy", "Teddy Bear"),
                },
            ),
            Sub(
                "Outdoor Play",
                (10, 600),
                (200, 30000),
                ("Foldable", "Light-Up", "Adjustable", "Weatherproof"),
                {
                    "Scooters": ("Kick Scooter", "Three-Wheel Scooter"),
                    "Kites": ("Kite", "Stunt Kite"),
                    "Playhouses": ("Playhouse", "Play Tent"),
                },
            ),
            Sub(
                "Learning Toys",
                (10, 250),
                (100, 2500),
                ("STEM", "Coding", "Montessori", "Interactive", "Wooden"),
                {
                    "STEM Kits": ("Robotics Kit", "Circuit Kit"),
                    "Science Kits": ("Chemistry Set", "Microscope Kit", "Crystal Growing Kit"),
                    "Early Learning": ("Shape Sorter", "Activity Cube"),
                },
            ),
        ),
    ),
    Department(
        "Books",
        "books",
        (BOOK_FORMATS,),
        {
            "language": ("English", "English", "English", "Spanish", "French", "German"),
            "audience": ("Adult", "Young Adult", "Children", "General"),
        },
        (
            "A page-turner readers can't put down.",
            "Includes a new foreword and reading-group questions.",
            "Praised by critics and readers alike.",
            "Printed on acid-free paper.",
            "The perfect gift for curious minds.",
        ),
        (
            Sub(
                "Fiction",
                (6, 40),
                (150, 1200),
                ("Bestselling", "Award-Winning", "Gripping", "Illustrated", "Collector's Edition", "Debut"),
                {
                    "Mystery & Thriller": ("Mystery Novel", "Crime Thriller", "Detective Novel"),
                    "Science Fiction": ("Science Fiction Novel", "Space Opera"),
                    "Fantasy": ("Fantasy Novel", "Epic Fantasy Saga"),
                    "Romance": ("Romance Novel", "Romantic Comedy"),
                    "Literary Fiction": ("Novel", "Short Story Collection"),
                },
            ),
            Sub(
                "Non-Fiction",
                (8, 60),
                (200, 1500),
                ("Bestselling", "Definitive", "Illustrated", "Updated", "Pulitzer-Nominated"),
                {
                    "Biographies": ("Biography", "Memoir"),
                    "History": ("History Book", "Narrative History"),
                    "Popular Science": ("Science Book", "Nature Guide"),
                    "Self-Help": ("Self-Help Book", "Productivity Guide"),
                },
            ),
            Sub(
                "Children's Books",
                (4, 30),
                (80, 900),
                ("Illustrated", "Bedtime", "Rhyming", "Lift-the-Flap", "Classic"),
                {
                    "Picture Books": ("Picture Book", "Board Book"),
                    "Early Readers": ("Early Reader", "Chapter Book"),
                    "Young Adult": ("Young Adult Novel", "Graphic Novel"),
                },
            ),
            Sub(
                "Lifestyle Books",
                (8, 60),
                (200, 2000),
                ("Illustrated", "Step-by-Step", "Seasonal", "Beginner's", "Complete"),
                {
                    "Cookbooks": ("Cookbook", "Baking Book"),
                    "Travel Guides": ("Travel Guide", "City Guide"),
                    "Crafts & Hobbies": ("Knitting Book", "Gardening Handbook", "Woodworking Guide"),
                },
            ),
            Sub(
                "Education & Reference",
                (10, 180),
                (300, 2500),
                ("Revised", "Comprehensive", "Practical", "Annotated", "Pocket"),
                {
                    "Textbooks": ("Textbook", "Workbook"),
                    "Language Learning": ("Language Course", "Phrasebook"),
                    "Dictionaries": ("Dictionary", "Thesaurus"),
                },
            ),
        ),
    ),
    Department(
        "Beauty & Personal Care",
        "general",
        (VOLUMES,),
        {
            "skin_type": ("All skin types", "Dry", "Oily", "Sensitive", "Combination"),
            "free_from": ("Parabens", "Sulphates", "Fragrance", "Silicones"),
        },
        (
            "Dermatologist tested and cruelty free.",
            "A lightweight formula that absorbs quickly.",
            "Made with naturally derived ingredients.",
            "Recyclable packaging, refills available.",
            "Visible results in as little as two weeks.",
        ),
        (
            Sub(
                "Skincare",
                (6, 150),
                (40, 600),
                ("Hydrating", "Vitamin C", "Retinol", "Fragrance-Free", "Mineral", "Brightening", "Overnight"),
                {
                    "Moisturizers": ("Moisturizer", "Night Cream", "Gel Cream"),
                    "Cleansers": ("Cleanser", "Micellar Water", "Cleansing Balm"),
                    "Serums": ("Serum", "Face Oil"),
                    "Sunscreens": ("Sunscreen SPF 50", "Tinted Sunscreen"),
                },
            ),
            Sub(
                "Hair Care",
                (5, 45),
                (50, 1200),
                ("Volumising", "Repairing", "Curl-Defining", "Sulphate-Free", "Nourishing"),
                {
                    "Shampoos": ("Shampoo", "Dry Shampoo"),
                    "Conditioners": ("Conditioner", "Hair Mask"),
                    "Hair Oils": ("Hair Oil", "Leave-In Treatment"),
                },
            ),
            Sub(
                "Hair Tools",
                (25, 400),
                (300, 1200),
                ("Ionic", "Professional", "Ceramic", "Cordless", "Compact"),
                {
                    "Hair Dryers": ("Hair Dryer", "Travel Hair Dryer"),
                    "Hair Straighteners": ("Hair Straightener", "Curling Wand"),
                },
                (COLOURS,),
            ),
            Sub(
                "Makeup",
                (5, 80),
                (10, 200),
                ("Long-Wear", "Matte", "Waterproof", "Lightweight", "Buildable", "Satin"),
                {
                    "Lipstick": ("Lipstick", "Lip Tint", "Lip Gloss"),
                    "Foundation": ("Foundation", "Skin Tint", "Concealer"),
                    "Mascara": ("Mascara", "Lengthening Mascara"),
                    "Eyeshadow": ("Eyeshadow Palette", "Eyeliner"),
                },
                (SHADES,),
            ),
            Sub(
                "Fragrance",
                (15, 250),
                (100, 600),
                ("Eau de Parfum", "Fresh", "Woody", "Floral", "Citrus"),
                {"Perfume": ("Perfume", "Perfume Oil"), "Cologne": ("Cologne", "Eau de Toilette")},
            ),
            Sub(
                "Shaving",
                (4, 60),
                (50, 600),
                ("Precision", "Sensitive", "Moisturising", "Classic"),
                {"Razors": ("Safety Razor", "Razor Blades"), "Shaving Cream": ("Shaving Cream", "Shaving Soap")},
                (PACKS,),
            ),
            Sub(
                "Grooming Tools",
                (20, 350),
                (100, 900),
                ("Precision", "Cordless", "Wet & Dry", "Rechargeable"),
                {
                    "Electric Shavers": ("Electric Shaver", "Foil Shaver"),
                    "Beard Trimmers": ("Beard Trimmer", "Grooming Kit"),
                },
                (COLOURS,),
            ),
        ),
    ),
    Department(
        "Grocery",
        "grocery",
        (PACKS,),
        {
            "diet": ("Vegan", "Gluten-Free", "Keto", "Non-GMO", "Organic", "Kosher"),
            "origin": ("Colombia", "Italy", "Japan", "Kenya", "Spain", "USA", "India"),
        },
        (
            "Small-batch and carefully sourced.",
            "Packed fresh and sealed for flavour.",
            "No artificial colours or preservatives.",
            "A pantry staple you'll reach for again and again.",
            "Fairly traded with long-term partner farms.",
        ),
        (
            Sub(
                "Coffee & Tea",
                (4, 60),
                (100, 2000),
                ("Single-Origin", "Organic", "Dark Roast", "Light Roast", "Decaf", "Loose-Leaf"),
                {
                    "Coffee Beans": ("Whole Bean Coffee", "Espresso Beans"),
                    "Ground Coffee": ("Ground Coffee", "Cold Brew Coffee"),
                    "Green Tea": ("Green Tea", "Matcha Powder"),
                    "Herbal Tea": ("Herbal Tea", "Chamomile Tea", "Rooibos Tea"),
                },
                (WEIGHTS,),
            ),
            Sub(
                "Snacks",
                (2, 40),
                (50, 3000),
                ("Crunchy", "Sea Salt", "Protein", "Baked", "Spicy", "Honey-Roasted"),
                {
                    "Chips & Crisps": ("Potato Chips", "Tortilla Chips", "Veggie Crisps"),
                    "Granola Bars": ("Granola Bars", "Protein Bars"),
                    "Nuts & Trail Mix": ("Almonds", "Trail Mix", "Cashews"),
                    "Cookies": ("Cookies", "Shortbread"),
                },
            ),
            Sub(
                "Pantry Staples",
                (2, 50),
                (200, 5000),
                ("Extra Virgin", "Organic", "Whole-Grain", "Stone-Ground", "Aged", "Smoked"),
                {
                    "Pasta": ("Spaghetti", "Penne", "Fusilli"),
                    "Oils & Vinegars": ("Olive Oil", "Balsamic Vinegar", "Avocado Oil"),
                    "Rice & Grains": ("Basmati Rice", "Quinoa", "Arborio Rice"),
                    "Spices": ("Smoked Paprika", "Ground Cumin", "Spice Blend"),
                },
            ),
            Sub(
                "Beverages",
                (3, 45),
                (300, 9000),
                ("Sparkling", "Sugar-Free", "Cold-Pressed", "Natural", "Electrolyte"),
                {
                    "Sparkling Water": ("Sparkling Water", "Flavoured Seltzer"),
                    "Juices": ("Orange Juice", "Apple Juice", "Green Juice"),
                    "Energy Drinks": ("Energy Drink", "Sports Drink"),
                },
            ),
            Sub(
                "Breakfast",
                (3, 30),
                (250, 3000),
                ("Whole-Grain", "Crunchy", "Raw", "Low-Sugar", "Organic"),
                {
                    "Cereals": ("Cereal", "Granola", "Muesli"),
                    "Oatmeal": ("Rolled Oats", "Instant Oatmeal"),
                    "Honey & Spreads": ("Raw Honey", "Peanut Butter", "Almond Butter"),
                },
            ),
        ),
    ),
    Department(
        "Pet Supplies",
        "general",
        (PET_SIZES,),
        {
            "life_stage": ("Puppy/Kitten", "Adult", "Senior", "All life stages"),
            "material": ("Nylon", "Natural Rubber", "Memory Foam", "Sisal", "Stainless Steel"),
        },
        (
            "Vet-approved and loved by pets.",
            "Tough enough for enthusiastic chewers.",
            "Machine-washable cover for easy cleaning.",
            "Made without artificial fillers.",
            "Keeps pets happy, healthy and busy.",
        ),
        (
            Sub(
                "Dog Supplies",
                (4, 250),
                (100, 15000),
                ("Grain-Free", "Orthopedic", "Durable", "Reflective", "Chew-Proof", "Calming"),
                {
                    "Dog Food": ("Dry Dog Food", "Wet Dog Food", "Dog Treats"),
                    "Dog Beds": ("Dog Bed", "Orthopedic Dog Bed"),
                    "Dog Toys": ("Chew Toy", "Rope Toy", "Fetch Ball"),
                    "Leashes & Collars": ("Leash", "Collar", "Harness"),
                },
            ),
            Sub(
                "Cat Supplies",
                (4, 200),
                (100, 12000),
                ("Clumping", "Indoor", "Scratch-Resistant", "Interactive", "Grain-Free"),
                {
                    "Cat Food": ("Dry Cat Food", "Wet Cat Food", "Cat Treats"),
                    "Cat Litter": ("Cat Litter", "Litter Box"),
                    "Scratching Posts": ("Scratching Post", "Cat Tree"),
                    "Cat Toys": ("Feather Wand", "Catnip Toy"),
                },
            ),
            Sub(
                "Fish & Aquatics",
                (5, 250),
                (50, 20000),
                ("Planted", "Quiet", "LED", "Nano", "Tropical"),
                {
                    "Aquariums": ("Aquarium Kit", "Nano Aquarium"),
                    "Aquarium Filters": ("Aquarium Filter", "Canister Filter"),
                    "Fish Food": ("Fish Flakes", "Sinking Pellets"),
                },
            ),
            Sub(
                "Small Animals & Birds",
                (4, 150),
                (100, 10000),
                ("Spacious", "Natural", "Multi-Level", "Dust-Free"),
                {
                    "Bird Cages": ("Bird Cage", "Flight Cage"),
                    "Small Animal Habitats": ("Hamster Cage", "Rabbit Hutch"),
                    "Small Animal Bedding": ("Paper Bedding", "Aspen Bedding"),
                },
            ),
        ),
    ),
    Department(
        "Tools & Home Improvement",
        "general",
        (TOOL_KITS,),
        {
            "power_source": ("Cordless 18V", "Cordless 12V", "Corded", "Manual"),
            "warranty": ("1 year", "3 years", "5 years", "Lifetime"),
        },
        (
            "Job-site tough and comfortable in the hand.",
            "Precision-machined for accurate, repeatable results.",
            "Compatible with the whole battery platform.",
            "Trusted by professionals and DIYers.",
            "Comes with a protective carry case.",
        ),
        (
            Sub(
                "Power Tools",
                (30, 600),
                (800, 8000),
                ("Brushless", "Cordless", "Compact", "Variable-Speed", "Heavy-Duty"),
                {
                    "Drills": ("Drill Driver", "Hammer Drill"),
                    "Saws": ("Circular Saw", "Jigsaw", "Mitre Saw"),
                    "Impact Drivers": ("Impact Driver", "Impact Wrench"),
                    "Sanders": ("Orbital Sander", "Detail Sander"),
                },
            ),
            Sub(
                "Hand Tools",
                (6, 300),
                (100, 9000),
                ("Chrome Vanadium", "Magnetic", "Ratcheting", "Insulated", "Professional"),
                {
                    "Screwdriver Sets": ("Screwdriver Set", "Precision Screwdriver Kit"),
                    "Wrenches": ("Wrench Set", "Adjustable Wrench", "Socket Set"),
                    "Hammers": ("Claw Hammer", "Mallet"),
                    "Tool Storage": ("Tool Box", "Tool Bag", "Tool Chest"),
                },
                (PACKS,),
            ),
            Sub(
                "Outdoor Power Equipment",
                (120, 900),
                (3000, 35000),
                ("Cordless", "Self-Propelled", "Brushless", "Quiet"),
                {
                    "Lawn Mowers": ("Lawn Mower", "Robotic Mower"),
                    "Pressure Washers": ("Pressure Washer", "Electric Pressure Washer"),
                    "Leaf Blowers": ("Leaf Blower", "Leaf Vacuum"),
                },
                (TOOL_KITS,),
            ),
            Sub(
                "Gardening",
                (8, 150),
                (200, 15000),
                ("Expandable", "Ergonomic", "Rust-Proof", "Self-Watering"),
                {
                    "Garden Hoses": ("Garden Hose", "Hose Reel"),
                    "Pruning Tools": ("Pruning Shears", "Loppers"),
                    "Planters": ("Planter", "Raised Garden Bed"),
                },
                (HOME_COLOURS,),
            ),
            Sub(
                "Lighting",
                (5, 200),
                (50, 3000),
                ("LED", "Dimmable", "Rechargeable", "Motion-Sensing", "Smart"),
                {
                    "Light Bulbs": ("LED Bulb", "Smart Bulb", "Filament Bulb"),
                    "Flashlights": ("Flashlight", "Headlamp"),
                    "Work Lights": ("Work Light", "Floodlight"),
                },
                (PACKS,),
            ),
            Sub(
                "Home Security",
                (30, 350),
                (200, 2000),
                ("Keyless", "Smart", "Weatherproof", "Wireless", "Night-Vision"),
                {
                    "Door Locks": ("Smart Lock", "Keypad Lock"),
                    "Security Cameras": ("Security Camera", "Video Doorbell"),
                },
                (COLOURS,),
            ),
            Sub(
                "Hardware",
                (3, 60),
                (50, 4000),
                ("Heavy-Duty", "Brushed Nickel", "Stainless", "Assorted"),
                {
                    "Fasteners": ("Screw Assortment", "Anchor Kit"),
                    "Door Hardware": ("Door Handle", "Door Hinge", "Deadbolt"),
                },
                (PACKS,),
            ),
        ),
    ),
    Department(
        "Automotive",
        "general",
        (COLOURS,),
        {
            "fitment": ("Universal", "Most cars", "SUVs & trucks", "Compact cars"),
            "warranty": ("1 year", "2 years", "Lifetime"),
        },
        (
            "Installs in minutes without special tools.",
            "Tested in extreme heat and cold.",
            "Built to OEM quality standards.",
            "Keeps your vehicle looking and running its best.",
            "Rated highly by drivers across the country.",
        ),
        (
            Sub(
                "Car Electronics",
                (15, 400),
                (80, 2000),
                ("4K", "Wireless", "Dual-Channel", "Night-Vision", "Magnetic"),
                {
                    "Dash Cams": ("Dash Cam", "Front and Rear Dash Cam"),
                    "Car Chargers": ("Car Charger", "Wireless Car Charger"),
                    "Car Audio": ("Car Stereo", "Subwoofer"),
                },
            ),
            Sub(
                "Car Care",
                (5, 120),
                (200, 5000),
                ("Ceramic", "Waterless", "Foaming", "Premium", "Streak-Free"),
                {
                    "Car Wax & Polish": ("Car Wax", "Ceramic Coating"),
                    "Cleaning Kits": ("Car Wash Kit", "Microfibre Towels", "Interior Cleaner"),
                },
                (PACKS,),
            ),
            Sub(
                "Parts & Accessories",
                (8, 250),
                (200, 20000),
                ("All-Weather", "Heavy-Duty", "Custom-Fit", "Beam-Style", "Maintenance-Free"),
                {
                    "Floor Mats": ("Floor Mats", "Cargo Liner"),
                    "Wiper Blades": ("Wiper Blades", "Rear Wiper Blade"),
                    "Car Batteries": ("Car Battery", "AGM Battery"),
                    "Roof Racks": ("Roof Rack", "Roof Box"),
                },
            ),
            Sub(
                "Roadside & Tires",
                (15, 300),
                (300, 8000),
                ("Portable", "Cordless", "Digital", "Compact"),
                {
                    "Jump Starters": ("Jump Starter", "Jump Starter Power Bank"),
                    "Tire Inflators": ("Tire Inflator", "Air Compressor"),
                    "Emergency Kits": ("Roadside Emergency Kit", "Tow Strap"),
                },
            ),
        ),
    ),
)

# Brands are invented words built from these syllables, so they sound plausible but belong to no one.
_ONSETS = (
    "b",
    "br",
    "c",
    "d",
    "dr",
    "f",
    "g",
    "h",
    "k",
    "kl",
    "l",
    "m",
    "n",
    "p",
    "qu",
    "r",
    "s",
    "st",
    "t",
    "tr",
    "v",
    "z",
    "al",
    "el",
    "or",
    "ar",
    "w",
    "j",
)
_VOWELS = ("a", "e", "i", "o", "u", "a", "o")
_MIDDLES = tuple(c + v for c in "bdklmnrstvz" for v in "aeiou")
_ENDINGS = (
    "",
    "n",
    "r",
    "x",
    "s",
    "l",
    "ra",
    "na",
    "ta",
    "ro",
    "lo",
    "vo",
    "nix",
    "rex",
    "ton",
    "lar",
    "ren",
    "rio",
    "lia",
    "ndo",
    "nta",
    "tek",
    "son",
    "ford",
    "wood",
    "ly",
    "ris",
    "vell",
    "mark",
    "line",
)
_BRAND_SUFFIXES = ("",) * 14 + (" Labs", " & Co.", " Works", " Studio", " Goods", " Supply")

SELLER_PREFIXES = (
    "Northwind",
    "Harbor",
    "Maple",
    "Summit",
    "Blue Ridge",
    "Cedar",
    "Copper",
    "Evergreen",
    "Golden Gate",
    "Ironwood",
    "Juniper",
    "Lakeside",
    "Meadow",
    "Oakridge",
    "Pinecrest",
    "Redwood",
    "Riverbend",
    "Sandstone",
    "Silverline",
    "Stonebridge",
    "Sunrise",
    "Tidewater",
    "Timberline",
    "Westfield",
    "Willow",
    "Alpine",
    "Bayside",
    "Brightwater",
    "Canyon",
    "Driftwood",
    "Falcon",
    "Foxglove",
    "Granite",
    "Highland",
    "Kestrel",
    "Lighthouse",
    "Magnolia",
    "Orchard",
    "Prairie",
    "Quarry",
)
SELLER_SUFFIXES = (
    "Outfitters",
    "Goods",
    "Supply Co.",
    "Trading",
    "Emporium",
    "Store",
    "Market",
    "Depot",
    "Direct",
    "Collective",
    "Mercantile",
    "Provisions",
    "Traders",
    "Wholesale",
    "Marketplace",
)


def _brand_word(rng: random.Random) -> str:
    middle = rng.choice(_MIDDLES) if rng.random() < 0.6 else ""
    return (rng.choice(_ONSETS) + rng.choice(_VOWELS) + middle + rng.choice(_ENDINGS)).capitalize()


def brand_names(count: int = 660) -> list[str]:
    """`count` distinct invented brand names, always the same ones in the same order."""
    rng = random.Random("bazaar:brands")
    names: list[str] = []
    seen: set[str] = set()
    while len(names) < count:
        word = _brand_word(rng)
        if not 4 <= len(word) <= 10 or word in seen:
            continue
        seen.add(word)
        names.append(word + rng.choice(_BRAND_SUFFIXES))
    return names


def seller_name(index: int) -> str:
    """The display name of the index-th demo seller: unique, and stable across runs."""
    combos = len(SELLER_PREFIXES) * len(SELLER_SUFFIXES)
    # A stride coprime with the number of combinations walks them all without repeating.
    slot = (index * 37) % combos
    name = f"{SELLER_PREFIXES[slot % len(SELLER_PREFIXES)]} {SELLER_SUFFIXES[slot // len(SELLER_PREFIXES)]}"
    return name if index < combos else f"{name} {index // combos + 1}"
