"""Embedded US-style vocabularies for the sample data: names, nicknames, streets, cities, products.

Kept in code (no Faker, no network) so generation is fast, offline and identical everywhere.
"""

from __future__ import annotations


def _words(text: str) -> tuple[str, ...]:
    # Long name lists read better as one space-separated string per line.
    return tuple(text.split())


# Formal first name -> nicknames people actually use for it (the classic matching trap).
NICKNAMES: dict[str, tuple[str, ...]] = {
    "Robert": ("Bob", "Rob", "Bobby"),
    "William": ("Bill", "Will", "Billy"),
    "Elizabeth": ("Liz", "Beth", "Betty", "Eliza"),
    "Margaret": ("Peggy", "Maggie", "Meg"),
    "Richard": ("Rick", "Rich", "Dick"),
    "James": ("Jim", "Jimmy", "Jamie"),
    "John": ("Jack", "Johnny"),
    "Michael": ("Mike", "Mikey"),
    "Christopher": ("Chris",),
    "Katherine": ("Kate", "Kathy", "Katie"),
    "Jennifer": ("Jen", "Jenny"),
    "Patricia": ("Pat", "Patty", "Trish"),
    "Thomas": ("Tom", "Tommy"),
    "Joseph": ("Joe", "Joey"),
    "Charles": ("Charlie", "Chuck"),
    "Daniel": ("Dan", "Danny"),
    "Matthew": ("Matt",),
    "Anthony": ("Tony",),
    "Steven": ("Steve",),
    "Andrew": ("Andy", "Drew"),
    "Joshua": ("Josh",),
    "Kenneth": ("Ken", "Kenny"),
    "Edward": ("Ed", "Eddie", "Ted"),
    "Timothy": ("Tim",),
    "Jonathan": ("Jon",),
    "Nicholas": ("Nick",),
    "Benjamin": ("Ben",),
    "Samuel": ("Sam",),
    "Alexander": ("Alex",),
    "Gregory": ("Greg",),
    "Jeffrey": ("Jeff",),
    "Ronald": ("Ron",),
    "Donald": ("Don",),
    "Gerald": ("Jerry",),
    "Lawrence": ("Larry",),
    "Raymond": ("Ray",),
    "Frederick": ("Fred",),
    "Theodore": ("Ted", "Teddy"),
    "Zachary": ("Zach",),
    "Nathaniel": ("Nate",),
    "David": ("Dave",),
    "Peter": ("Pete",),
    "Philip": ("Phil",),
    "Douglas": ("Doug",),
    "Patrick": ("Pat",),
    "Vincent": ("Vince",),
    "Eugene": ("Gene",),
    "Albert": ("Al",),
    "Walter": ("Walt",),
    "Henry": ("Hank",),
    "Francis": ("Frank",),
    "Gabriel": ("Gabe",),
    "Susan": ("Sue", "Susie"),
    "Deborah": ("Debbie", "Deb"),
    "Rebecca": ("Becky",),
    "Barbara": ("Barb",),
    "Jessica": ("Jess",),
    "Christine": ("Chris", "Chrissy"),
    "Victoria": ("Vicky", "Tori"),
    "Samantha": ("Sam",),
    "Alexandra": ("Alex", "Lexi"),
    "Abigail": ("Abby",),
    "Kimberly": ("Kim",),
    "Pamela": ("Pam",),
    "Cynthia": ("Cindy",),
    "Dorothy": ("Dottie",),
    "Judith": ("Judy",),
    "Jacqueline": ("Jackie",),
    "Theresa": ("Terry", "Tess"),
    "Catherine": ("Cathy", "Cat"),
    "Stephanie": ("Steph",),
    "Melissa": ("Missy", "Mel"),
    "Amanda": ("Mandy",),
    "Sandra": ("Sandy",),
    "Kathleen": ("Kathy",),
    "Christina": ("Tina",),
    "Angela": ("Angie",),
    "Valerie": ("Val",),
    "Madeline": ("Maddie",),
    "Allison": ("Allie",),
}

_MALE_PLAIN = _words(
    "Jose Carlos Luis Juan Miguel Jorge Ricardo Hector Raul Andre Liam Noah Ethan Mason Logan Aiden "
    "Brian Kevin Jason Ryan Eric Scott Mark Paul Adam Aaron Kyle Tyler Brandon Justin Jamal Darnell "
    "Marcus Terrence Wei Hiroshi Mohammed Omar Ravi Arjun Dmitri Sean Connor Cody Dustin Travis Derek "
    "Jesus Ramon Noel Jacob Elijah Caleb Isaac Owen Lucas Hunter Austin Evan Ian Grant"
)
_FEMALE_PLAIN = _words(
    "Maria Sofia Zoe Chloe Renee Ines Emily Olivia Emma Ava Mia Sarah Laura Lisa Karen Linda Mary "
    "Nicole Heather Michelle Amy Anna Grace Hannah Julia Rachel Megan Lauren Ashley Brittany Danielle "
    "Erin Tiffany Keisha Tanisha Aaliyah Priya Aisha Fatima Mei Yuki Carmen Lucia Gabriela Brenda "
    "Crystal Monica Tamara Diana Natalie Kayla Morgan Brooke Paige Hailey Leah Naomi Ruth Joan"
)
_MALE_FORMAL = [n for n in NICKNAMES if n not in {
    "Elizabeth", "Margaret", "Katherine", "Jennifer", "Patricia", "Susan", "Deborah", "Rebecca",
    "Barbara", "Jessica", "Christine", "Victoria", "Samantha", "Alexandra", "Abigail", "Kimberly",
    "Pamela", "Cynthia", "Dorothy", "Judith", "Jacqueline", "Theresa", "Catherine", "Stephanie",
    "Melissa", "Amanda", "Sandra", "Kathleen", "Christina", "Angela", "Valerie", "Madeline", "Allison"}]
_FEMALE_FORMAL = [n for n in NICKNAMES if n not in _MALE_FORMAL]

# Formal names are listed twice so roughly half of all people have a usable nickname.
MALE_FIRST_NAMES: tuple[str, ...] = (*_MALE_FORMAL, *_MALE_FORMAL, *_MALE_PLAIN)
FEMALE_FIRST_NAMES: tuple[str, ...] = (*_FEMALE_FORMAL, *_FEMALE_FORMAL, *_FEMALE_PLAIN)

LAST_NAMES: tuple[str, ...] = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez "
    "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark "
    "Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams "
    "Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker "
    "Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper "
    "Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James "
    "Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster "
    "Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler Henderson Barnes Gonzales Fisher "
    "Vasquez Simmons Romero Jordan Patterson Alexander Hamilton Graham Reynolds Griffin Wallace Moreno "
    "West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall "
    "Owens Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb "
    "Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason "
    "Dixon Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren "
    "Mills Meyer Rice Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne "
    "Grant Dunn Kelley Spencer Hawkins Arnold Pierce Vazquez Hansen Peters Santos Hart Bradley Knight "
    "Elliott Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Alvarado Ray Delgado Berry "
    "Perkins Hoffman Johnston Matthews Pena Richards Willis Carpenter Lawrence Sandoval O'Brien "
    "O'Connor Muller Nunez Yamamoto Kowalski Novak Schneider Larsen"
)

# ASCII spelling -> the accented spelling a CRM in cp1252 keeps (other sources usually strip it).
ACCENTED: dict[str, str] = {
    "Jose": "José", "Zoe": "Zoë", "Renee": "Renée", "Chloe": "Chloé", "Andre": "André", "Noel": "Noël",
    "Ines": "Inés", "Ramon": "Ramón", "Sofia": "Sofía", "Maria": "María", "Raul": "Raúl",
    "Jesus": "Jesús", "Hector": "Héctor", "Lucia": "Lucía", "Garcia": "García", "Martinez": "Martínez",
    "Hernandez": "Hernández", "Lopez": "López", "Gonzalez": "González", "Perez": "Pérez",
    "Sanchez": "Sánchez", "Ramirez": "Ramírez", "Munoz": "Muñoz", "Muller": "Müller", "Nunez": "Núñez",
    "Gomez": "Gómez", "Diaz": "Díaz", "Jimenez": "Jiménez", "Alvarez": "Álvarez", "Gutierrez": "Gutiérrez",
    "Fernandez": "Fernández", "Vasquez": "Vásquez", "Pena": "Peña", "Mendez": "Méndez",
}

STREET_NAMES: tuple[str, ...] = (*_words(
    "Main Oak Maple Cedar Elm Washington Lake Hill Park Pine Sunset Lincoln Jefferson Madison Franklin "
    "Highland River Church Spring Willow Chestnut Walnut Center Union Ridge Meadow Forest Jackson Adams "
    "Cherry Birch Locust Dogwood Magnolia Hickory Sycamore Laurel Valley Grove Prospect Broad Market "
    "Mill College Academy Bridge Harbor Bay Orchard Hillcrest Lakeview Fairview Woodland Greenwood "
    "Cottonwood Aspen Juniper Mesa Canyon Sierra Palm Ocean Shore Mountain Heritage Liberty Pleasant "
    "Kingston Wilson Grant Monroe Taylor Hamilton Clinton Pierce Cleveland Garfield Roosevelt"
), "1st", "2nd", "3rd", "4th", "5th", "6th", "7th", "8th", "Martin Luther King Jr", "Old Mill")

# (full suffix, USPS abbreviation)
STREET_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("Street", "St"), ("Avenue", "Ave"), ("Road", "Rd"), ("Drive", "Dr"), ("Lane", "Ln"),
    ("Boulevard", "Blvd"), ("Court", "Ct"), ("Place", "Pl"), ("Terrace", "Ter"), ("Circle", "Cir"),
    ("Parkway", "Pkwy"), ("Way", "Way"),
)
STREET_SUFFIX_WEIGHTS: tuple[float, ...] = (30, 20, 12, 12, 7, 4, 5, 3, 2, 2, 1, 2)

DIRECTIONS: tuple[tuple[str, str], ...] = (("North", "N"), ("South", "S"), ("East", "E"), ("West", "W"))

# (city, state, 3-digit ZIP prefix, area codes)
CITIES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("New York", "NY", "100", ("212", "646", "917")), ("Brooklyn", "NY", "112", ("718", "347")),
    ("Buffalo", "NY", "142", ("716",)), ("Los Angeles", "CA", "900", ("213", "310", "323")),
    ("San Diego", "CA", "921", ("619", "858")), ("San Jose", "CA", "951", ("408", "669")),
    ("San Francisco", "CA", "941", ("415", "628")), ("Sacramento", "CA", "958", ("916",)),
    ("Chicago", "IL", "606", ("312", "773")), ("Naperville", "IL", "605", ("630",)),
    ("Houston", "TX", "770", ("713", "832")), ("Dallas", "TX", "752", ("214", "469")),
    ("Austin", "TX", "787", ("512", "737")), ("San Antonio", "TX", "782", ("210",)),
    ("El Paso", "TX", "799", ("915",)), ("Phoenix", "AZ", "850", ("602", "480")),
    ("Tucson", "AZ", "857", ("520",)), ("Philadelphia", "PA", "191", ("215", "267")),
    ("Pittsburgh", "PA", "152", ("412",)), ("Jacksonville", "FL", "322", ("904",)),
    ("Miami", "FL", "331", ("305", "786")), ("Tampa", "FL", "336", ("813",)),
    ("Orlando", "FL", "328", ("407", "321")), ("Columbus", "OH", "432", ("614",)),
    ("Cleveland", "OH", "441", ("216",)), ("Cincinnati", "OH", "452", ("513",)),
    ("Indianapolis", "IN", "462", ("317",)), ("Charlotte", "NC", "282", ("704", "980")),
    ("Raleigh", "NC", "276", ("919",)), ("Seattle", "WA", "981", ("206",)),
    ("Spokane", "WA", "992", ("509",)), ("Denver", "CO", "802", ("303", "720")),
    ("Boulder", "CO", "803", ("303",)), ("Boston", "MA", "021", ("617", "857")),
    ("Worcester", "MA", "016", ("508",)), ("Nashville", "TN", "372", ("615",)),
    ("Memphis", "TN", "381", ("901",)), ("Detroit", "MI", "482", ("313",)),
    ("Grand Rapids", "MI", "495", ("616",)), ("Portland", "OR", "972", ("503", "971")),
    ("Las Vegas", "NV", "891", ("702",)), ("Louisville", "KY", "402", ("502",)),
    ("Baltimore", "MD", "212", ("410", "443")), ("Milwaukee", "WI", "532", ("414",)),
    ("Albuquerque", "NM", "871", ("505",)), ("Atlanta", "GA", "303", ("404", "678")),
    ("Savannah", "GA", "314", ("912",)), ("Kansas City", "MO", "641", ("816",)),
    ("St. Louis", "MO", "631", ("314",)), ("Omaha", "NE", "681", ("402",)),
    ("Minneapolis", "MN", "554", ("612",)), ("New Orleans", "LA", "701", ("504",)),
    ("Salt Lake City", "UT", "841", ("801",)), ("Richmond", "VA", "232", ("804",)),
    ("Arlington", "VA", "222", ("703", "571")), ("Newark", "NJ", "071", ("973",)),
    ("Hartford", "CT", "061", ("860",)), ("Providence", "RI", "029", ("401",)),
    ("Birmingham", "AL", "352", ("205",)), ("Oklahoma City", "OK", "731", ("405",)),
    ("Boise", "ID", "837", ("208",)), ("Honolulu", "HI", "968", ("808",)),
    ("Anchorage", "AK", "995", ("907",)), ("Des Moines", "IA", "503", ("515",)),
)

FREE_EMAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "aol.com", "comcast.net",
    "att.net", "verizon.net", "protonmail.com",
)
FREE_EMAIL_WEIGHTS: tuple[float, ...] = (45, 14, 10, 9, 9, 4, 3, 2, 2, 2)

# Common fat-finger misspellings of free email domains.
DOMAIN_TYPOS: dict[str, str] = {
    "gmail.com": "gmial.com", "yahoo.com": "yaho.com", "hotmail.com": "hotmial.com",
    "outlook.com": "outlok.com", "icloud.com": "iclould.com", "aol.com": "aol.co",
}

COMPANIES: tuple[str, ...] = (
    "Acme Logistics", "Blue Harbor Consulting", "Summit Ridge Dental", "Northwind Traders",
    "Cedar & Pine Architects", "Brightline Analytics", "Keystone Plumbing", "Lakeside Realty",
    "Redwood Capital Partners", "Silverline Insurance", "Granite State Builders", "Oakmont Family Medicine",
    "Pioneer Freight", "Riverbend Veterinary Clinic", "Sunrise Bakery", "Harborview Marina",
    "Evergreen Landscaping", "Metro Office Supply", "Copperfield Law Group", "Bluebird Catering",
    "Frontier Software", "Prairie Wind Energy", "Golden Gate Printing", "Ironwood Fitness",
    "Magnolia Event Co.", "Stonebridge Accounting", "Tidewater Marine Supply", "Urban Roots Florist",
    "Vista Home Health", "Westfield Auto Repair", "Quantum Labs", "Maple Leaf Daycare",
    "Highland Coffee Roasters", "Crescent City Films", "Liberty Title Co.", "Pinnacle HR Services",
    "Coastal Cold Storage", "Benchmark Surveying", "Cornerstone Church", "Atlas Moving & Storage",
)
# Generated company names ("<prefix> <kind>") so large populations are not crowded into a few firms.
COMPANY_PREFIXES: tuple[str, ...] = _words(
    "Apex Beacon Bluewater Cascade Clearview Crossroads Eastgate Emerald Falcon Foxhill Gateway Harbor "
    "Horizon Juniper Keystone Lakeshore Landmark Meridian Midway Northstar Oakridge Pacific Paragon "
    "Pinecrest Redstone Riverside Sagebrush Sterling Summit Trinity Valleyview Westbrook Willowbend"
)
COMPANY_KINDS: tuple[str, ...] = (
    "Dental Group", "Logistics", "Insurance Agency", "Realty", "Construction", "Veterinary Clinic",
    "Consulting", "Auto Group", "Law Firm", "Accounting", "Property Management", "Landscaping",
    "Family Practice", "Staffing", "Printing", "Catering", "HVAC Services", "Marketing", "Credit Union",
    "Fitness Studio",
)
JOB_TITLES: tuple[str, ...] = (
    "Owner", "Office Manager", "Purchasing Manager", "Director of Operations", "CEO", "Buyer",
    "Marketing Manager", "Facilities Coordinator", "Executive Assistant", "Procurement Lead",
)

# (sku, product name, category, unit price in USD)
PRODUCTS: tuple[tuple[str, str, str, float], ...] = (
    ("APP-1001", "Classic Crew T-Shirt", "Apparel", 19.99), ("APP-1002", "Relaxed Fit Jeans", "Apparel", 59.50),
    ("APP-1003", "Merino Wool Sweater", "Apparel", 89.00), ("APP-1004", "Rain Shell Jacket", "Apparel", 129.00),
    ("APP-1005", "Performance Socks 3-Pack", "Apparel", 14.99), ("APP-1006", "Fleece Hoodie", "Apparel", 49.95),
    ("FTW-2001", "Trail Running Shoe", "Footwear", 119.99), ("FTW-2002", "Leather Chelsea Boot", "Footwear", 169.00),
    ("FTW-2003", "Canvas Sneaker", "Footwear", 54.00), ("FTW-2004", "House Slipper", "Footwear", 29.99),
    ("HOM-3001", "Linen Duvet Cover", "Home", 139.00), ("HOM-3002", "Scented Soy Candle", "Home", 24.00),
    ("HOM-3003", "Throw Blanket", "Home", 45.00), ("HOM-3004", "Ceramic Table Lamp", "Home", 79.99),
    ("KIT-4001", "Cast Iron Skillet 12in", "Kitchen", 39.99), ("KIT-4002", "Chef's Knife 8in", "Kitchen", 69.00),
    ("KIT-4003", "Pour-Over Coffee Set", "Kitchen", 34.50), ("KIT-4004", "Glass Storage Set", "Kitchen", 27.99),
    ("ELE-5001", "Wireless Earbuds", "Electronics", 99.99), ("ELE-5002", "Portable Charger 10000mAh", "Electronics", 29.99),
    ("ELE-5003", "Bluetooth Speaker", "Electronics", 59.99), ("ELE-5004", "Smart Plug 2-Pack", "Electronics", 24.99),
    ("BEA-6001", "Daily Moisturizer", "Beauty", 22.00), ("BEA-6002", "Vitamin C Serum", "Beauty", 32.00),
    ("BEA-6003", "Mineral Sunscreen SPF 50", "Beauty", 18.50), ("OUT-7001", "Insulated Water Bottle", "Outdoors", 32.95),
    ("OUT-7002", "Daypack 24L", "Outdoors", 74.99), ("OUT-7003", "Camping Hammock", "Outdoors", 59.00),
    ("OUT-7004", "Headlamp", "Outdoors", 26.99), ("TOY-8001", "Wooden Building Blocks", "Toys", 34.99),
    ("TOY-8002", "1000-Piece Puzzle", "Toys", 19.99), ("TOY-8003", "Plush Bear", "Toys", 16.00),
    ("GFT-9001", "Gift Card $25", "Gift Cards", 25.00), ("GFT-9002", "Gift Card $50", "Gift Cards", 50.00),
)

STORE_BRAND = "Northwind Outfitters"

USER_AGENTS: tuple[str, ...] = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; SM-S911U) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/129.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
)

# (path, title) of the storefront's pages.
PAGES: tuple[tuple[str, str], ...] = (
    ("/", "Northwind Outfitters | Home"), ("/collections/apparel", "Apparel"),
    ("/collections/footwear", "Footwear"), ("/collections/home", "Home & Living"),
    ("/collections/kitchen", "Kitchen"), ("/collections/outdoors", "Outdoors"),
    ("/collections/sale", "Sale"), ("/search", "Search results"), ("/cart", "Your cart"),
    ("/stores", "Find a store"), ("/account", "My account"), ("/help/returns", "Returns & exchanges"),
    ("/blog/fall-layering-guide", "The fall layering guide"), ("/loyalty", "Northwind Rewards"),
)
SITE = "https://www.northwind-outfitters.example"

REFERRERS: tuple[str, ...] = (
    "", "", "", "https://www.google.com/", "https://www.google.com/", "https://www.bing.com/",
    "https://www.facebook.com/", "https://www.instagram.com/", "https://duckduckgo.com/",
    "https://www.pinterest.com/",
)

# (source, medium, campaign name, term, content)
CAMPAIGNS: tuple[tuple[str, str, str, str, str], ...] = (
    ("google", "cpc", "fall_sale_2026", "rain jacket", "ad_a"),
    ("google", "cpc", "brand_search", "northwind outfitters", ""),
    ("facebook", "paid_social", "holiday_gifts", "", "carousel_1"),
    ("instagram", "paid_social", "new_arrivals", "", "story_video"),
    ("newsletter", "email", "weekly_digest", "", "hero_button"),
    ("newsletter", "email", "loyalty_double_points", "", "footer_link"),
    ("bing", "cpc", "fall_sale_2026", "hiking boots", "ad_b"),
    ("partner_blog", "referral", "gift_guide", "", ""),
)

CALL_QUEUES: tuple[str, ...] = ("orders", "returns", "billing", "loyalty", "product_questions", "general")
