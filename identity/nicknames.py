"""Common English given-name short forms, so "Bob" and "Robert" are recognised as one name.

Only widely used forms are listed: an entry here lets an email or phone link survive a
first-name difference, so a rare or ambiguous form does more harm than good.
"""

from __future__ import annotations

#: formal name -> short forms (all lower case, as standardised names are)
SHORT_FORMS: dict[str, tuple[str, ...]] = {
    "abigail": ("abby", "abbie"), "alexander": ("alex", "sasha"), "alexandra": ("alex", "sandra", "lexi"),
    "alfred": ("alf", "fred"), "andrew": ("andy", "drew"), "anthony": ("tony",), "barbara": ("barb", "babs"),
    "benjamin": ("ben", "benny"), "bradley": ("brad",), "catherine": ("cathy", "kate", "katie", "cat"),
    "charles": ("charlie", "chuck", "chas"), "christina": ("tina", "chris"), "christine": ("chris", "tina"),
    "christopher": ("chris", "topher"), "cynthia": ("cindy",), "daniel": ("dan", "danny"),
    "david": ("dave", "davey"), "deborah": ("deb", "debbie", "debby"), "donald": ("don", "donnie"),
    "dorothy": ("dot", "dottie"), "douglas": ("doug",), "edward": ("ed", "eddie", "ted", "ned"),
    "elizabeth": ("liz", "beth", "betty", "lizzie", "eliza", "betsy"), "emily": ("em", "emmy"),
    "eugene": ("gene",), "frances": ("fran", "frannie"), "francis": ("frank",), "frederick": ("fred", "freddie"),
    "gerald": ("gerry", "jerry"), "gregory": ("greg",), "harold": ("hal", "harry"), "henry": ("hank", "harry"),
    "jacob": ("jake",), "james": ("jim", "jimmy", "jamie"), "janet": ("jan",), "jeffrey": ("jeff",),
    "jennifer": ("jen", "jenny", "jenn"), "jessica": ("jess", "jessie"), "john": ("jack", "johnny"),
    "jonathan": ("jon", "jonny"), "joseph": ("joe", "joey"), "joshua": ("josh",), "judith": ("judy",),
    "katherine": ("kathy", "kate", "katie", "kat"), "kathleen": ("kathy", "kate"), "kenneth": ("ken", "kenny"),
    "kimberly": ("kim",), "lawrence": ("larry",), "leonard": ("leo", "len", "lenny"), "margaret": (
        "maggie", "meg", "peggy", "marge", "madge"), "matthew": ("matt",), "michael": ("mike", "mikey", "mick"),
    "michelle": ("shelly", "michele"), "nathaniel": ("nate", "nat"), "nicholas": ("nick", "nicky"),
    "pamela": ("pam",), "patricia": ("pat", "patty", "trish", "tricia"), "patrick": ("pat", "paddy"),
    "peter": ("pete",), "philip": ("phil",), "phillip": ("phil",), "rebecca": ("becky", "becca"),
    "richard": ("rick", "rich", "dick", "richie"), "robert": ("rob", "bob", "bobby", "robbie", "bert"),
    "ronald": ("ron", "ronnie"), "samantha": ("sam", "sammy"), "samuel": ("sam", "sammy"),
    "sandra": ("sandy",), "stephanie": ("steph",), "stephen": ("steve",), "steven": ("steve",),
    "susan": ("sue", "suzy", "susie"), "suzanne": ("sue", "suzy"), "theodore": ("ted", "teddy", "theo"),
    "thomas": ("tom", "tommy"), "timothy": ("tim", "timmy"), "victoria": ("vicky", "vickie", "tori"),
    "vincent": ("vince", "vinny"), "walter": ("walt",), "william": ("will", "bill", "billy", "willy", "liam"),
    "zachary": ("zach", "zack"), "raymond": ("ray",), "terrence": ("terry",),
    "terence": ("terry",), "beverly": ("bev",), "virginia": ("ginny", "ginger"), "jacqueline": ("jackie",),
    "nancy": ("nan",), "carolyn": ("carol",), "ashley": ("ash",), "melissa": ("mel", "missy"),
    "amanda": ("mandy",), "angela": ("angie",), "anna": ("annie",), "anne": ("annie",),
    "albert": ("al", "bert"), "allen": ("al",), "alan": ("al",), "allison": ("ally", "allie"),
    "alison": ("ally", "allie"), "andrea": ("andi",), "arthur": ("art",), "benedict": ("ben",),
    "clifford": ("cliff",), "curtis": ("curt",), "dennis": ("denny",),
    "dominic": ("dom",), "eleanor": ("ellie", "nora"), "evelyn": ("evie",), "gabriel": ("gabe",),
    "gabrielle": ("gabby",), "jeremy": ("jerry",), "jerome": ("jerry",), "josephine": ("jo", "josie"),
    "kristen": ("kris",), "kristin": ("kris",), "lillian": ("lily",), "louis": ("lou",), "louise": ("lou",),
    "madeline": ("maddie",), "megan": ("meg",), "mitchell": ("mitch",), "oliver": ("ollie",),
    "raphael": ("rafa",), "russell": ("russ",), "sebastian": ("seb",), "sylvia": ("syl",),
    "tabitha": ("tabby",), "theresa": ("tess", "terri", "terry", "tessa"), "teresa": ("tess", "terri", "terry"), "valerie": ("val",), "wesley": ("wes",),
}


def canonical_names() -> dict[str, str]:
    """short form -> formal name, for short forms that point at exactly one formal name.

    Ambiguous short forms (``pat``: Patricia or Patrick; ``chris``; ``sam``) and names that are
    formal names in their own right (``sandra``, short for Alexandra too) are left out: they
    still match themselves but never decide between two formal names.
    """
    targets: dict[str, set[str]] = {}
    for formal, shorts in SHORT_FORMS.items():
        for short in shorts:
            targets.setdefault(short, set()).add(formal)
    return {short: next(iter(formals)) for short, formals in sorted(targets.items()) if len(formals) == 1 and short not in SHORT_FORMS}


def name_groups() -> dict[str, list[str]]:
    """name -> every formal name it can stand for (a formal name stands for itself).

    Two first names are one name when their lists share an entry: Meg and Maggie (both
    Margaret), Tina and Christina, Pat and Patricia, but never Pat and Christina.
    """
    groups: dict[str, set[str]] = {}
    for formal, shorts in SHORT_FORMS.items():
        for name in (formal, *shorts):
            groups.setdefault(name, set()).add(formal)
    return {name: sorted(formals) for name, formals in sorted(groups.items())}
