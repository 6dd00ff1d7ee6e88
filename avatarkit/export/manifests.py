"""The files an LMS reads to import a package: `imsmanifest.xml` (SCORM 1.2, SCORM 2004 4th edition) and `cmi5.xml`.

Each package is one course with one learning object (the player, launched
as `index.html`). SCORM manifests list every file of the package as a
resource file, as the content packaging specification asks; the cmi5
course structure names the course and its one assignable unit by IRI.
"""

from __future__ import annotations

import re
from urllib.parse import quote
from xml.sax.saxutils import escape, quoteattr

CMI5_NS = "https://w3id.org/xapi/profiles/cmi5/v1/CourseStructure.xsd"
SCORM12_NS = {
    "": "http://www.imsproject.org/xsd/imscp_rootv1p1p2",
    "adlcp": "http://www.adlnet.org/xsd/adlcp_rootv1p2",
}
SCORM2004_NS = {
    "": "http://www.imsglobal.org/xsd/imscp_v1p1",
    "adlcp": "http://www.adlnet.org/xsd/adlcp_v1p3",
    "adlseq": "http://www.adlnet.org/xsd/adlseq_v1p3",
    "adlnav": "http://www.adlnet.org/xsd/adlnav_v1p3",
    "imsss": "http://www.imsglobal.org/xsd/imsss",
}
_XSI = "http://www.w3.org/2001/XMLSchema-instance"


def xml_id(course_id: str) -> str:
    """`course_id` as an XML ID (an NCName): other characters become '_', and a leading digit gets a prefix."""
    s = re.sub(r"[^A-Za-z0-9_.-]", "_", course_id.strip())
    return s if re.match(r"[A-Za-z_]", s) else f"c_{s}"


def course_iri(course_id: str) -> str:
    """The course's IRI for cmi5: `course_id` itself when it is one, else an `urn:avatarkit:` name."""
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$", course_id.strip()):
        return course_id.strip()
    return "urn:avatarkit:course:" + quote(course_id.strip(), safe="-._~")


def _xmlns(ns: dict[str, str]) -> str:
    return " ".join(f'xmlns{":" + k if k else ""}="{v}"' for k, v in ns.items())


def _files(files: list[str], indent: str) -> str:
    return "\n".join(f"{indent}<file href={quoteattr(f)}/>" for f in files)


def scorm12_manifest(course: dict, files: list[str]) -> str:
    """IMS CP 1.1.2 with the ADL SCORM 1.2 extensions: one organization, one item, one SCO resource."""
    ident = xml_id(course["id"])
    title = escape(course["title"])
    loc = (f"{SCORM12_NS['']} imscp_rootv1p1p2.xsd "
           f"{SCORM12_NS['adlcp']} adlcp_rootv1p2.xsd")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<manifest identifier="{ident}" version="1.0" {_xmlns(SCORM12_NS)}
          xmlns:xsi="{_XSI}" xsi:schemaLocation="{loc}">
  <metadata>
    <schema>ADL SCORM</schema>
    <schemaversion>1.2</schemaversion>
  </metadata>
  <organizations default="{ident}_org">
    <organization identifier="{ident}_org">
      <title>{title}</title>
      <item identifier="{ident}_item" identifierref="{ident}_sco" isvisible="true">
        <title>{title}</title>
      </item>
    </organization>
  </organizations>
  <resources>
    <resource identifier="{ident}_sco" type="webcontent" adlcp:scormtype="sco" href="index.html">
{_files(files, "      ")}
    </resource>
  </resources>
</manifest>
"""


def scorm2004_manifest(course: dict, files: list[str]) -> str:
    """IMS CP 1.1.4 with the SCORM 2004 4th edition extensions.

    The item's `adlcp:completionThreshold` lets the LMS judge completion
    from the progress measure the player reports (the watched share), so an
    LMS that overrides the SCO's own status still agrees with it.
    """
    ident = xml_id(course["id"])
    title = escape(course["title"])
    loc = " ".join(f"{SCORM2004_NS[k]} {x}" for k, x in (
        ("", "imscp_v1p1.xsd"), ("adlcp", "adlcp_v1p3.xsd"), ("adlseq", "adlseq_v1p3.xsd"),
        ("adlnav", "adlnav_v1p3.xsd"), ("imsss", "imsss_v1p0.xsd")))
    threshold = f"{course['completion']:.4f}".rstrip("0").rstrip(".") if course["completion"] else "0"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<manifest identifier="{ident}" version="1" {_xmlns(SCORM2004_NS)}
          xmlns:xsi="{_XSI}" xsi:schemaLocation="{loc}">
  <metadata>
    <schema>ADL SCORM</schema>
    <schemaversion>2004 4th Edition</schemaversion>
  </metadata>
  <organizations default="{ident}_org">
    <organization identifier="{ident}_org">
      <title>{title}</title>
      <item identifier="{ident}_item" identifierref="{ident}_sco" isvisible="true">
        <title>{title}</title>
        <adlcp:completionThreshold completedByMeasure="true" minProgressMeasure="{threshold}"/>
        <imsss:sequencing>
          <imsss:deliveryControls completionSetByContent="true" objectiveSetByContent="true"/>
        </imsss:sequencing>
      </item>
      <imsss:sequencing>
        <imsss:controlMode choice="true" flow="true"/>
      </imsss:sequencing>
    </organization>
  </organizations>
  <resources>
    <resource identifier="{ident}_sco" type="webcontent" adlcp:scormType="sco" href="index.html">
{_files(files, "      ")}
    </resource>
  </resources>
</manifest>
"""


def _langstrings(texts: dict[str, str], indent: str) -> str:
    return "\n".join(f"{indent}<langstring lang={quoteattr(lang)}>{escape(t)}</langstring>" for lang, t in texts.items())


def cmi5_xml(course: dict) -> str:
    """A cmi5 course structure: the course and one AU (`index.html`) that moves on when completed.

    Titles are given in every language of the package; the course title
    is `course["title"]` in the default language.
    """
    iri = course_iri(course["id"])
    rends = course["renditions"]
    default = course["defaultLanguage"]
    course_titles = {r["language"]: r["title"] for r in rends} | {default: course["title"]}
    au_titles = {r["language"]: r["title"] for r in rends}
    desc = course["description"] or course["title"]
    descs = {default: desc}
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<courseStructure xmlns="{CMI5_NS}">
  <course id={quoteattr(iri)}>
    <title>
{_langstrings(course_titles, "      ")}
    </title>
    <description>
{_langstrings(descs, "      ")}
    </description>
  </course>
  <au id={quoteattr(iri + "/au")} moveOn="Completed" launchMethod="AnyWindow"
      activityType="https://w3id.org/xapi/video/activity-type/video">
    <title>
{_langstrings(au_titles, "      ")}
    </title>
    <description>
{_langstrings(descs, "      ")}
    </description>
    <url>index.html</url>
  </au>
</courseStructure>
"""
