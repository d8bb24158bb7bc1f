"""The labeler's vocabulary: how chest radiograph reports name each observation.

Written for januscxr from radiology usage (see ``docs/labeler.md``), in the phrase syntax of
:mod:`januscxr.labeler.lexicon`: a space also matches a hyphen, ``~`` skips up to three filler
words (adverbs, ``XXXX`` de-identification tokens). Common misspellings sit beside the word
they misspell. Decisions a radiologist could make either way are noted where they are made.
"""

from __future__ import annotations

from typing import Final

from januscxr.labeler.lexicon import Lexicon
from januscxr.labels import Finding

# Words that name the heart's outline on a radiograph.
_HEART = r"(?:heart|heart size|cardiac (?:silhouette|shadow|contour|size|outline)|cardiac silhouette size)"
_NORMAL = (
    r"(?:normal|within normal limits|within (?:the )?limits of normal|unremarkable|upper limits? of normal|top normal|"
    r"normal size|not enlarged)"
)
_VESSELS = (
    r"(?:vasculature|vascularity|vascular markings|vessels|vascular engorgement|vascular pattern|"
    r"vascular margins|vascular margination)"
)
_LOBE = r"(?:lobe|lobar|segment|segmental|lung)"
_OPACITY = r"(?:opacit(?:y|ies)|densit(?:y|ies)|shadows?|foci|focus)"

CARDIOMEGALY: Final = Lexicon(
    mention=(
        r"cardiomegal(?:y|ic)|cardiomegally|cardiomegaley|cardiomeagly|cardiomgaly|cardiomegly|cardimegaly",
        r"cardio megaly",
        r"(?:cardiac|heart) enlargement",
        r"(?:increase|increased|increasing) (?:in |of )?(?:the )?(?:heart size|cardiac size|size of the heart|"
        r"cardiac silhouette|size of the cardiac silhouette)",
        r"enlargement of (?:the )?(?:heart|cardiac (?:silhouette|shadow|contour)|cardiac size)",
        r"enlarged ~2 (?:heart|cardiac (?:silhouette|shadow|contour|size)|heart size)",
        r"(?:large|big|globular) (?:heart|cardiac (?:silhouette|shadow))",
        rf"{_HEART} ~4 (?:enlarged|enlargement|large|increased|globular)",
        # Radiologists use the cardiomediastinal outline for the heart when the heart enlarges.
        r"(?:enlarged|enlargement of) ~2 cardiomediastinal (?:silhouette|contours?)",
        r"cardiomediastinal (?:silhouette|contours?) ~4 enlarged",
    ),
    hedged=(
        rf"borderline ~2 {_HEART}",
        rf"{_HEART} ~3 borderline",
    ),
    normal=(
        rf"{_HEART} ~6 {_NORMAL}",
        rf"normal ~2 {_HEART}",
        r"(?:non|not) ?enlarged ~2 (?:heart|cardiac|cardiomediastinal)",
        r"(?:normal|normal sized|normal size) heart",
        r"heart (?:and|,) ~3 (?:mediastinum|mediastinal \w+) ~3 normal",
        r"cardiomediastinal (?:silhouette|contours?|size) ~6 (?:normal|within normal limits|unremarkable)",
        r"normal cardiomediastinal (?:silhouette|contours?|size)",
    ),
)

ENLARGED_CARDIOMEDIASTINUM: Final = Lexicon(
    mention=(
        r"widen(?:ed|ing) ~2 (?:mediastinum|mediastinal|superior mediastinum|cardiomediastinal)",
        r"(?:mediastinum|mediastinal (?:silhouette|contours?)) ~4 (?:widened|widening|enlarged|prominent)",
        r"(?:prominent|enlarged|widened|wide) ~2 (?:mediastinum|mediastinal (?:silhouette|contours?))",
        r"mediastinal (?:mass|masses|lymphadenopathy|adenopathy|widening|enlargement|prominence)",
        r"(?:enlarged|enlargement of) ~2 cardiomediastinal (?:silhouette|contours?)",
        r"cardiomediastinal (?:silhouette|contours?) ~4 (?:enlarged|widened|prominent)",
    ),
    normal=(
        r"(?:mediastinum|mediastinal (?:silhouette|contours?|width)) ~6 (?:normal|within normal limits|unremarkable)",
        r"normal ~2 (?:mediastinum|mediastinal (?:silhouette|contours?)|cardiomediastinal (?:silhouette|contours?))",
        r"cardiomediastinal (?:silhouette|contours?|size) ~6 (?:normal|within normal limits|unremarkable)",
        r"heart (?:and|,) ~3 (?:mediastinum|mediastinal \w+) ~3 normal",
    ),
)

LUNG_OPACITY: Final = Lexicon(
    mention=(
        r"opacit(?:y|ies)|opacification|opacified|opacites|opacitiy",
        rf"(?:airspace|air space|alveolar|parenchymal|pulmonary|lung|interstitial|patchy|streaky|hazy|"
        rf"reticular|reticulonodular|linear|nodular|focal|ill defined|confluent|increased) ~2 {_OPACITY}",
        r"densit(?:y|ies)",
        r"infiltrat(?:e|es|ive|ion)|infiltates",
        r"(?:airspace|air space|alveolar|interstitial) (?:disease|process|filling)",
        r"haziness|hazy|ground glass|reticulation|reticular|reticulonodular",
        r"(?:increased|prominent|coarse|coarsened|accentuated|chronic|prominence of) ~3 (?:interstitial|"
        r"bronchovascular|lung|pulmonary) (?:markings|pattern|prominence|changes)",
        r"(?:interstitial|bronchovascular) ~2 (?:markings|pattern|prominence|thickening|changes) ~3 "
        r"(?:increased|prominent|coarse|coarsened|accentuated)",
        r"interstitial (?:prominence|thickening|changes|abnormality|lung disease)",
    ),
    ignored=(
        r"(?:bone|bony|soft tissue|breast|osseous|mineral|metallic|calcified|calcific|nipple|sclerotic) densit(?:y|ies)",
        r"(?:soft tissue|breast|nipple) opacit(?:y|ies)",
        r"densit(?:y|ies) ~3 (?:bone|bones|ribs?|clavicles?|spine|vertebra\w*|breasts?|nipples?)",
    ),
)

LUNG_LESION: Final = Lexicon(
    mention=(
        r"nodul(?:e|es|ar|arity|i)|nodlue|nodulle",
        r"(?:pulmonary|lung|parenchymal|spiculated|cavitary|cavitating|rounded|round) (?:mass|masses|lesion|lesions)",
        r"mass|masses|mass like|masslike",
        r"lesions?",
        r"tumou?rs?|neoplasms?|neoplastic|carcinoma|malignan(?:cy|cies|t)|metasta(?:sis|ses|tic)|cancer",
        r"cavitary|cavitating|cavitation|cavity|cavities",
        r"coin lesion",
        rf"(?:round|rounded|circular|spherical|ovoid|oval) ~2 {_OPACITY}",
    ),
    ignored=(
        r"nodular calcifications?|nodular (?:soft tissue )?(?:thickening|contour|scarring|interstitial)|"
        r"reticul\w* ?nodular|fibro ?nodular",
        r"(?:round|rounded|circular|spherical|ovoid|oval) ~3 (?:sclerotic|radiopaque|metallic|bony|bone) "
        r"~3 (?:densit\w+|opacit\w+|foci|focus)",
        r"(?:bone|bony|osseous|lytic|blastic|sclerotic|skin|cutaneous|soft tissue|chest wall|breast|neck|thyroid|"
        r"abdominal|mediastinal|paratracheal|liver|hepatic|renal|adrenal|osteolytic) (?:lesions?|mass|masses)",
        r"lesions? ~6 (?:ribs?|bones?|humer\w+|clavicles?|spine|vertebra\w*|scapula\w*|sternum)|expansile lesions?",
        r"mass effect|muscle mass|soft tissue masses?|lymph nodes?|nodal|pleural ?based ~2 nodul\w+",
        r"(?:history of|hx of|status post|s/p|known) ~4 (?:cancer|carcinoma|malignancy|neoplasm|tumou?r|mass|masses|"
        r"nodules?|lesions?)",
        r"nodul(?:e|es|ar)[^.;]{0,80}?\bnipple",  # a nipple shadow mimics a nodule
        r"(?:pleural|thoracic|abdominal|peritoneal|oral|nasal|chest|joint|marrow|medullary) cavit(?:y|ies)",
        r"(?:breast|prostate|colon|thyroid|renal|bladder|ovarian|esophageal|pancreatic|cervical) "
        r"(?:cancer|carcinoma|malignancy)",
    ),
)

EDEMA: Final = Lexicon(
    mention=(
        r"o?edema|oedematous|edematous|edemea",
        # CheXpert's Edema class covers the congestive spectrum: vascular congestion first,
        # then interstitial and alveolar edema. Congestion therefore labels Edema here too.
        r"(?:pulmonary )?(?:vascular|venous) (?:congestion|engorgement|redistribution|congestive changes)",
        r"congestion|congestive changes|congestive pattern|vascular prominence",
        rf"(?:prominen\w+|engorge\w+|increased|enlarged|distended|indistinct\w*|hazy|haziness of|blurring of) ~3 {_VESSELS}",
        rf"{_VESSELS} ~4 (?:prominent|engorged|increased|indistinct|distended|enlarged)",
        r"congestive (?:heart )?failure|congestive cardiac failure|(?:heart|cardiac) failure|chf|cardiac decompensation",
        r"(?:early|mild|moderate|left heart|left ventricular) failure",
        r"cephali[sz]ation|kerley ~1 lines|fluid overload|volume overload|pulmonary venous hypertension",
    ),
    ignored=(
        r"(?:soft tissue|subcutaneous|chest wall|extremity|facial|airway|laryngeal|periorbital|bowel wall) o?edema",
        r"(?:history of|hx of|known) ~3 (?:chf|congestive heart failure|heart failure)",
        r"(?:respiratory|renal|kidney|liver|hepatic) failure|(?:nasal|sinus) congestion",
    ),
    normal=(
        rf"(?:pulmonary )?{_VESSELS} ~6 {_NORMAL}",
        rf"normal ~2 (?:pulmonary )?{_VESSELS}",
    ),
)

CONSOLIDATION: Final = Lexicon(
    mention=(
        r"consolidat(?:ion|ions|ive|ed|ing)|consolodation|consilidation|consoldiation|consolidaton|"
        r"consolidiation",
    ),
)

PNEUMONIA: Final = Lexicon(
    mention=(
        r"(?:broncho|aspiration )?pneumoni(?:a|as|c)|pnemonia|pneumnia|pneunomia|pnuemonia|pneumona|pneumoniae",
        r"pneumonitis",
        r"aspiration",
    ),
    # "Infection" names an etiology, not the diagnosis: the report stops short of pneumonia
    # (an airway or atypical infection reads the same), so it is an uncertain pneumonia.
    hedged=(r"infections?|infectious|infected|infective",),
    ignored=(
        r"(?:history of|hx of|recent|prior|previous|treated|known) ~3 (?:pneumonia|infection)",
        r"(?:granulomatous|old|prior|remote|healed|chronic) ~3 (?:infection|infectious)",
        r"(?:urinary|wound|skin|viral upper|upper respiratory|sinus) ~2 infection",
        r"(?:symptoms|signs|clinical signs) ~2 (?:infection|pneumonia)",
    ),
)

ATELECTASIS: Final = Lexicon(
    mention=(
        r"atelecta(?:sis|ses|tic)|atelectsis|atelactasis|atlectasis|ateletasis|atelectesis|atelecatsis|"
        r"atelectais|atelectsasis|atelectatis",
        r"(?:collapse|collapsed) ~6 (?:lobes?|lobar|segments?|segmental|lungs?)",
        rf"(?:lobar|segmental|subsegmental|lung|{_LOBE}) ~2 collapse",
        r"(?:discoid|plate ?like|platelike|linear|band ?like|subsegmental) ~2 (?:atelectasis|atelectases)",
    ),
    ignored=(
        r"(?:vertebral|vertebra|vertebral body|body|compression) ~2 collapse",
        r"collapse ~3 (?:vertebra\w*|vertebral body|t\d+|l\d+)",
    ),
)

PNEUMOTHORAX: Final = Lexicon(
    mention=(
        r"pneumothora(?:x|ces|xes|xs)|pnuemothorax|pneumothroax|pneumothorx|pnemothorax|pneumonthorax|"
        r"pneuomothorax|pneumothorax's|pneumothoax",
        r"(?:hydro|hemo|haemo)pneumothora(?:x|ces)",
        r"ptx",
        r"pleural air|air (?:in|within) the pleural (?:space|cavity)",
    ),
    ignored=(r"tension ~1 physiology",),
)

PLEURAL_EFFUSION: Final = Lexicon(
    mention=(
        r"effusions?|effusoin|efusion|effussion|effuson|effusionn|effsuion|effusins|pleural fusion",
        r"pleural (?:fluid|collection|collections)",
        r"(?:hydro|hemo|haemo)thora(?:x|ces)|(?:hydro|hemo|haemo)pneumothora(?:x|ces)",
        r"fluid ~3 (?:fissures?|pleural space|costophrenic)",
        r"(?:fissural|subpulmonic|loculated) fluid",
    ),
    ignored=(r"(?:pericardial|joint|knee|shoulder|elbow|hip|glenohumeral|subacromial) effusions?",),
)

PLEURAL_OTHER: Final = Lexicon(
    mention=(
        r"pleural (?:thickening|plaques?|calcifications?|scarring|scar|reaction|disease|abnormality|nodules?)",
        r"pleural ~2 thickening",
        r"(?:thickening|calcification) of (?:the )?pleura",
        r"(?:apical )?pleural caps?|apical (?:capping|caps?)",
        r"pleuro ?parenchymal (?:scarring|scar|thickening|opacit(?:y|ies)|changes)",
        r"fibrothorax|pleural ?based ~2 (?:opacit\w+|densit\w+|thickening|nodul\w+)",
        # Blunting alone cannot tell fluid from thickening; it is a pleural abnormality, not an
        # effusion, unless the report names an effusion (see the docs).
        r"blunt(?:ing|ed) ~6 (?:costophrenic|cp|sulcus|sulci|angles?)",
        r"(?:costophrenic|cp) ~4 blunt(?:ing|ed)",
    ),
)

FRACTURE: Final = Lexicon(
    mention=(
        r"fractur(?:e|es|ed|ing)|fracure|fracutre|fractrue|fratcure|fxs?",
        r"compression deformit(?:y|ies)|wedge compression|(?:vertebral|wedge) ~1 compression",
        r"(?:broken|healing|healed) (?:ribs?|clavicle|bones?)",
        r"callus formation|broken",
    ),
    ignored=(
        r"(?:catheter|lead|leads|wire|wires|line|port|device|tube|screws?|hardware|plates?|rods?) ~2 fracture\w*|"
        r"broken ~2 (?:wires?|leads?|catheters?|sternotomy|sternal)|(?:wires?|sternotomy \w+|sternal \w+) ~2 broken",
    ),
)

SUPPORT_DEVICES: Final = Lexicon(
    mention=(
        r"pacemakers?|pacers?|pace maker|aicds?|icds?|defibrillators?|pacing (?:wires?|leads?|device)",
        r"(?:pacer|pacemaker|pacing|icd|aicd|defibrillator|cardiac|epicardial|transvenous|ecg|ekg|"
        r"telemetry|monitoring) ~1 (?:leads?|wires?|electrodes?|generator|device)",
        r"catheters?|picc|port ?a ?cath|portacath|mediport|(?:chest|power|infusion|venous|chest wall) ports?",
        r"(?:central|venous|arterial|midline|ij|jugular|subclavian|femoral|dialysis|hemodialysis|swan|"
        r"swan ganz|picc) (?:lines?|catheters?)",
        r"swan ganz|sheath|introducer|pigtail",
        r"(?:endotracheal|tracheostomy|trach|chest|feeding|nasogastric|orogastric|gastric|gastrostomy|enteric|"
        r"ng|og|et|dobhoff|dobbhoff|thoracostomy|pleural|drainage|mediastinal|nasoenteric|j|g) tubes?",
        r"ett|tracheostomy|dobhoff|drains?",
        r"sternotomy|sternal (?:wires?|sutures?)|cerclage wires?|(?:surgical|sternotomy) wires?",
        r"cabg|coronary artery bypass ~3 (?:graft|grafting)?|bypass grafts?",
        r"(?:surgical|vascular|cholecystectomy|axillary|metallic) clips?|clips",
        r"(?:prosthetic|mechanical|artificial|bioprosthetic) ~2 valves?|valve (?:replacement|prosthesis)|"
        r"(?:aortic|mitral|tricuspid) (?:valve )?(?:replacement|prosthesis|annuloplasty)|annuloplasty|"
        r"tavr|tavi|avr|mvr",
        r"stents?|lvad|impella|balloon pump|iabp|ecmo",
        r"(?:fixation|fusion|orthopedic|surgical|spinal|cervical|metallic) hardware|hardware",
        r"(?:stimulator|neurostimulator|loop recorder|vns|filter|coils?) ?(?:leads?|device|generator)?",
        r"(?:surgical )?(?:screws?|plates? and screws|rods?)|prosthes(?:is|es)",
    ),
    ignored=(r"breast (?:implants?|prosthes(?:is|es))",),
)

# Abnormalities outside the 14 observations. They label nothing themselves; under the
# default :class:`~januscxr.labeler.annotation.NoFindingRule` they rule out "No Finding".
OTHER_ABNORMALITY: Final = Lexicon(
    mention=(
        r"granulomas?|granulomata|granulomatous|calcified ~3 (?:nodules?|nodes?|lymph nodes?|foci|densit\w+)",
        r"calcifications?|calcified|calcific|calcinosis|atherosclero\w+|atheromatous|plaques?",
        r"tortuous|tortuosity|ectatic|ectasia|unfold(?:ed|ing)|aneurysm\w*|dilated|dilatation",
        r"degenerative|degeneration|spondylo\w+|osteophyt\w+|arthriti\w+|arthropathy|arthrosis|hyperostosis|dish|"
        r"spurs?|spurring|syndesmophytes?|endplate ~2 (?:changes|sclerosis|irregularit\w+)|post ?traumatic",
        r"(?:dextro|levo|thoraco|lumbar )?scolio\w+|(?:dextro|levo) ?convex|kyphosis|kyphotic|kyphoscoliosis|lordosis|"
        r"deformit(?:y|ies)|wedging|pectus ~1 \w+|curvature",
        r"osteopeni\w+|osteopor\w+|demineralization|lucenc(?:y|ies)|lytic|sclerotic|sclerosis",
        r"scars?|scarring|cicatri\w+|fibros\w+|fibrotic",
        r"emphysema\w*|copd|chronic obstructive|hyperinflat\w+|hyperexpan\w+|hyperaerat\w+|overinflat\w+|"
        r"hyperlucen\w+|air trapping|bullae|bullous|bulla|blebs?",
        r"flatten\w+ ~3 (?:hemi)?diaphragm\w*|(?:hemi)?diaphragm\w* ~3 flatten\w+",
        r"hypoinflat\w+|(?:low|lower|decreased|diminished|reduced) ~1 (?:lung )?volumes?|hypoventilat\w+|"
        r"(?:lung )?volumes ~2 (?:low|decreased|diminished|reduced)|"
        r"(?:poor|shallow) (?:inspiration|inspiratory effort)",
        r"elevat\w+ ~3 (?:hemi)?diaphragm\w*|(?:hemi)?diaphragm\w* ~3 elevat\w+|eventration",
        r"hernias?",
        r"bronchiectasis|bronchial (?:wall )?thickening|peribronchial (?:thickening|cuffing)|bronchitis",
        r"cysts?|cystic",
        r"(?:lymphadenopathy|adenopathy)",
        r"(?:hila|hilum|hilar (?:region|regions|contours?|shadows?)) ~3 (?:prominen\w+|enlarg\w+|fullness|full)",
        r"(?:prominent|enlarged|full) ~2 (?:hila|hilum|hilar)",
        r"pulmonary (?:artery|arteries|arterial) ~3 (?:enlarg\w+|prominen\w+|dilat\w+|hypertension)",
        r"(?:prominen\w+|enlarge\w+|dilat\w+) (?:of )?(?:the )?(?:central )?pulmonary arter\w+",
        r"mastectomy|pneumonectomy|lobectomy|wedge resection|resection|breast (?:implants?|prosthes(?:is|es))",
        r"post ?(?:surgical|operative) (?:changes?|appearance)|surgical changes?|postoperative",
        r"foreign bod(?:y|ies)|shrapnel|bullets?|(?:metallic|radiopaque) (?:fragments?|foreign|densit\w+|bodies)",
        r"azygos (?:lobe|fissure)|dextrocardia|situs inversus|right sided aortic arch|right aortic arch",
        r"interstitial lung disease|sarcoid\w*|tuberculosis|pneumoconiosis|asbestos\w*|silicosis",
        r"pneumoperitoneum|free (?:intraperitoneal )?air|pneumomediastinum|(?:mediastinal|tracheal) shift",
        r"volume loss|chronic (?:lung|pulmonary|interstitial|obstructive) \w+|chronic changes",
        r"(?:abnormal|abnormality|abnormalities) ~3 (?:spine|vertebra\w*|bones?|ribs?|clavicles?|shoulders?)",
    ),
    ignored=(
        r"(?:acute|displaced|aggressive) ~2 (?:osseous|bony|bone|skeletal)? ?(?:abnormalit\w+|deformit\w+|lesions?)",
        r"(?:no|without) (?:acute )?(?:osseous|bony|bone|skeletal) (?:abnormalit\w+|deformit\w+)",
        r"(?:nipple|breast) shadows?|epicardial fat",
    ),
)

# Phrases that call the whole study normal; they give "No Finding" its evidence sentence.
NORMAL_STUDY: Final = Lexicon(
    mention=(
        r"no (?:\w+ )?(?:acute|active|significant) ~3 (?:disease|abnormalit(?:y|ies)|process|findings?|"
        r"pathology|changes?|infiltrates?)",
        r"(?:normal|negative|unremarkable|clear) (?:\w+ )?(?:chest|study|exam|examination|radiograph|"
        r"radiographs|film|films|x ray|x xxxx|chest x ray)",
        r"(?:chest|study|exam|examination|radiograph) ~3 (?:normal|negative|unremarkable)",
        r"(?:lungs?|lung fields) ~3 clear",
    ),
)

FINDING_LEXICONS: Final[dict[Finding, Lexicon]] = {
    Finding.ENLARGED_CARDIOMEDIASTINUM: ENLARGED_CARDIOMEDIASTINUM,
    Finding.CARDIOMEGALY: CARDIOMEGALY,
    Finding.LUNG_OPACITY: LUNG_OPACITY,
    Finding.LUNG_LESION: LUNG_LESION,
    Finding.EDEMA: EDEMA,
    Finding.CONSOLIDATION: CONSOLIDATION,
    Finding.PNEUMONIA: PNEUMONIA,
    Finding.ATELECTASIS: ATELECTASIS,
    Finding.PNEUMOTHORAX: PNEUMOTHORAX,
    Finding.PLEURAL_EFFUSION: PLEURAL_EFFUSION,
    Finding.PLEURAL_OTHER: PLEURAL_OTHER,
    Finding.FRACTURE: FRACTURE,
    Finding.SUPPORT_DEVICES: SUPPORT_DEVICES,
}
