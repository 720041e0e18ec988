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


def _words(text: str) -> tuple[str, ...]:
    # A long name list reads better as lines of space-separated words.
    return tuple(text.split())


#: Spellings of one name: a person's records may carry either, so they are never a conflict.
SPELLING_VARIANTS: tuple[tuple[str, ...], ...] = (
    ("stephen", "steven"), ("philip", "phillip"), ("allison", "alison"), ("kristen", "kristin"),
    ("theresa", "teresa"), ("catherine", "katherine", "kathryn"), ("terrence", "terence"),
    ("jeffrey", "geoffrey"), ("sarah", "sara"), ("ann", "anne"), ("megan", "meghan"),
    ("rebecca", "rebekah"), ("carl", "karl"), ("eric", "erik"), ("brian", "bryan"), ("sean", "shawn"),
    ("alan", "allen", "allan"), ("mohammed", "mohammad", "muhammad"), ("aaliyah", "aliyah"),
    ("hailey", "haley"), ("isabel", "isabelle"), ("marc", "mark"), ("anna", "ana"),
)

#: Common given names that are names in their own right, not spellings of one another. Two
#: different ones (Paul, Paula; Dan, Dana; John, Joan) name two people however alike they look,
#: unless they share a formal name or a spelling (above). Names outside this list and the short
#: forms keep typo tolerance (Jonathon is read as a misspelt Jonathan).
GIVEN_NAMES: frozenset[str] = frozenset(_words("""
    aaron adam adrian aidan aiden alan albert alejandro alice alicia amber amy aisha ana andre angel angelica
    ann anna anne antonio april arjun ashley audrey austin ava barry bernard beth bianca billie blake
    brandon brenda brent brett brian brianna bridget brittany brooke bruce bryan caleb calvin cameron
    candice cara carl carla carlos carly carmen carol caroline carrie casey cassandra cecilia chad
    charlene charlotte chelsea chester chloe christian claire clara claudia cody colin colleen connor
    craig crystal dale dana danielle darlene darnell darren dean denise derek desiree diana diane dmitri
    dolores dominique donna doris dustin dylan eileen elaine elena elijah ella ellen emma eric erica
    erik erin esther ethan eva evan faith fatima felicia fernando gail gary gavin gene george georgia
    gina gladys glen glenn gloria grace grant hailey haley hannah heather hector heidi helen hiroshi
    holly hunter ian ines irene isaac isabel isabella ivan jack jade jaime jamal jane janice jasmine
    jason jean jeanne jenna jeremiah jesse jesus jill joan joann joanna joanne joel johanna jordan jorge
    jose joy joyce juan juanita julia julian julie juliet june justin karen karl kathryn katrina kayla
    keisha keith kelly kelsey kendra kevin kirk krista kristina kurt kyle lance laura lauren leah lee
    leon leslie lillian linda lindsay lisa logan lois lori lorraine lucas lucia luis luke lydia lynn
    mabel marcus maria marian marie marilyn mario marion mark marsha martha martin marvin mary mason
    maureen maxine mei mia miguel mildred miranda molly monica morgan nadia naomi natalie neil nicole
    noah noel nora norma norman olivia omar owen paige paul paula paulette pauline pearl penny priya
    rachel ramon randall randy raul ravi regina renee rhonda ricardo rita roberta robin rodney roger
    rosa rose roxanne ruby russ ruth ryan sabrina sally sara sarah scott sean shane shannon sharon
    shawn sheila shirley sierra sofia sonia sophia stacy stanley stella sydney tamara tammy tanisha
    tanya tara tasha taylor tiffany todd tracy travis trevor troy tyler vanessa vera veronica vicki
    wanda wayne wei wendy whitney yolanda yuki yvonne zoe
"""))


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
    Margaret), Tina and Christina, Pat and Patricia, Steve and Stephen and Steven (spellings of
    one name), but never Pat and Christina. A common given name with no short form (Paula) stands
    for itself, so it is a known name that shares nothing with Paul.
    """
    groups: dict[str, set[str]] = {}
    for formal, shorts in SHORT_FORMS.items():
        for name in (formal, *shorts):
            groups.setdefault(name, set()).add(formal)
    for name in GIVEN_NAMES:
        groups.setdefault(name, {name})
    for spellings in SPELLING_VARIANTS:
        for name in spellings:
            groups.setdefault(name, {name})
        for formals in groups.values():
            if not formals.isdisjoint(spellings):
                formals.update(spellings)
    return {name: sorted(formals) for name, formals in sorted(groups.items())}
