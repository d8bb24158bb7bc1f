"""Published chest X-ray classifiers januscxr can use as experts once the user has their weights.

Pure data, no torch: what each publisher's file holds (container, label order, input size,
preprocessing), their published operating thresholds and AUCs with where they come from, and
how their labels map onto januscxr's findings. The files are never shipped or downloaded here:
the user downloads one and runs ``januscxr models convert NAME FILE``
(:mod:`januscxr.models.checkpoint`), which writes januscxr's safetensors layout into the models
folder (:mod:`januscxr.models.expert_store`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from januscxr.labels import NIH_TO_FINDING, Finding


class Container(StrEnum):
    """How the published file stores its tensors."""

    MODULE_PICKLE = "module-pickle"  # torch.save(model): a pickled nn.Module (torchxrayvision's DenseNets)
    CHECKPOINT = "checkpoint"  # a dict whose "state_dict" holds the tensors (CheXNet's model.pth.tar)
    STATE_DICT = "state-dict"  # torch.save(model.state_dict()) (torchxrayvision's ResNet-50)


class Preprocessing(StrEnum):
    """The publisher's own input pipeline, reproduced in :mod:`januscxr.models.published_input`."""

    XRV = "xrv"  # (2 p - 1) * 1024, centre square crop, resize to the input size, one channel
    IMAGENET_TEN_CROP = "imagenet-ten-crop"  # short side to 256, ten 224 crops, RGB, ImageNet mean/std


@dataclass(frozen=True)
class PublishedExpert:
    """One published classifier: its file, its outputs and what its publishers report."""

    model_id: str
    publisher: str
    description: str
    architecture: str  # "densenet121" | "resnet50" (januscxr.models.densenet)
    in_channels: int
    input_size: int
    preprocessing: Preprocessing
    container: Container
    source_file: str  # the file name as published
    source_url: str
    licence: str
    outputs: tuple[str, ...]  # the publisher's labels in output order; "" for an untrained output
    thresholds: tuple[float, ...]  # published operating threshold per output (sigmoid scale); nan where none
    threshold_source: str
    aucs: dict[str, dict[str, float]] = field(default_factory=dict)  # test set -> publisher label -> AUC
    auc_source: str = ""
    version: str = "published"

    @property
    def findings(self) -> tuple[Finding, ...]:
        """The januscxr findings this expert covers, in :class:`Finding` order."""
        return tuple(sources_by_finding(self))


# torchxrayvision's extra labels, named as CheXpert names them, on top of NIH_TO_FINDING.
_XRV_TO_FINDING: dict[str, Finding] = {
    "Lung Lesion": Finding.LUNG_LESION,
    "Fracture": Finding.FRACTURE,
    "Lung Opacity": Finding.LUNG_OPACITY,
    "Enlarged Cardiomediastinum": Finding.ENLARGED_CARDIOMEDIASTINUM,
}
LABEL_TO_FINDING: dict[str, Finding] = NIH_TO_FINDING | _XRV_TO_FINDING


def sources_by_finding(expert: PublishedExpert) -> dict[Finding, tuple[int, ...]]:
    """Per covered finding, the output indices that answer it.

    A label named like the finding answers it alone (torchxrayvision's "Lung Opacity", not its
    "Infiltration"); otherwise every label mapped onto it does (NIH's Mass and Nodule both answer
    Lung Lesion: flagged when either is over its own threshold). Emphysema, Fibrosis and Hernia
    have no januscxr finding and are not used.
    """
    candidates: dict[Finding, list[int]] = {}
    for index, label in enumerate(expert.outputs):
        if label in LABEL_TO_FINDING:
            candidates.setdefault(LABEL_TO_FINDING[label], []).append(index)
    chosen = {}
    for finding in Finding:
        indices = candidates.get(finding, [])
        exact = [i for i in indices if expert.outputs[i] == finding.value]
        if indices:
            chosen[finding] = tuple(exact or indices)
    return chosen


def published_threshold(expert: PublishedExpert, index: int) -> float:
    """The published threshold of one output, or 0.5 (the plain sigmoid midpoint) where none is published."""
    value = expert.thresholds[index]
    return 0.5 if math.isnan(value) else value


_NAN = float("nan")
NIH_14 = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
)
# torchxrayvision's 18 outputs (its default_pathologies order); each weight file trains some of them.
XRV_18 = (
    "Atelectasis",
    "Consolidation",
    "Infiltration",
    "Pneumothorax",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Effusion",
    "Pneumonia",
    "Pleural_Thickening",
    "Cardiomegaly",
    "Nodule",
    "Mass",
    "Hernia",
    "Lung Lesion",
    "Fracture",
    "Lung Opacity",
    "Enlarged Cardiomediastinum",
)
_XRV_URL = "https://github.com/mlmed/torchxrayvision/releases/download/v1/"
_XRV_LICENCE = "Apache-2.0 (torchxrayvision code and weights); check each training dataset's terms"
_XRV_THRESHOLDS = (
    "torchxrayvision's `op_threshs` for these weights (torchxrayvision/models.py): per label, the sigmoid "
    "output maximising sensitivity + specificity - 1 on the publishers' held-out split (scripts/model_calibrate.py)"
)
_XRV_AUCS = (
    "torchxrayvision BENCHMARKS.md (results updated 2023-07-23): AUC on 20% of each dataset, "
    "computed by the publishers with scripts/model_calibrate.py"
)
_XRV_TRAINED = {
    "all": XRV_18,
    "nih": (*XRV_18[:14], "", "", "", ""),
    "pc": (*XRV_18[:14], "", "Fracture", "", ""),
    "chex": tuple(
        label
        if label not in {"Infiltration", "Emphysema", "Fibrosis", "Pleural_Thickening", "Nodule", "Mass", "Hernia"}
        else ""
        for label in XRV_18
    ),
    "rsna": tuple(label if label in {"Pneumonia", "Lung Opacity"} else "" for label in XRV_18),
}
_XRV_TRAINED["mimic_ch"] = _XRV_TRAINED["mimic_nb"] = _XRV_TRAINED["chex"]
# torchxrayvision's published operating thresholds (op_threshs), in XRV_18 order.
_XRV_OP_THRESHOLDS: dict[str, tuple[float, ...]] = {
    "all": (0.07422872, 0.038290843, 0.09814756, 0.0098118475, 0.023601074, 0.0022490358, 0.010060724, 0.103246614,
            0.056810737, 0.026791653, 0.050318155, 0.023985857, 0.01939503, 0.042889766, 0.053369623, 0.035975814,
            0.20204692, 0.05015312),
    "nih": (0.039117552, 0.0034529066, 0.11396341, 0.0057298196, 0.00045666535, 0.0018880932, 0.012037827,
            0.038744126, 0.0037213727, 0.014730946, 0.016149804, 0.054241467, 0.037198864, 0.0004403434,
            _NAN, _NAN, _NAN, _NAN),
    "pc": (0.031012505, 0.013347598, 0.081435576, 0.001262615, 0.002587246, 0.0035944257, 0.0023071, 0.055412333,
           0.044385884, 0.042766232, 0.043258056, 0.037629247, 0.005658899, 0.0091741895, _NAN, 0.026507627,
           _NAN, _NAN),
    "chex": (0.1988969, 0.05710573, _NAN, 0.0531293, 0.1435217, _NAN, _NAN, 0.27212676, 0.07749717, _NAN,
             0.19712369, _NAN, _NAN, _NAN, 0.09932402, 0.09273402, 0.3270967, 0.10888247),
    "rsna": (_NAN,) * 8 + (0.13486601,) + (_NAN,) * 7 + (0.13511065, _NAN),
    "mimic_nb": (0.08558747, 0.011884617, _NAN, 0.0040595434, 0.010733786, _NAN, _NAN, 0.118761964, 0.022924708,
                 _NAN, 0.06358637, _NAN, _NAN, _NAN, 0.022143636, 0.017476924, 0.1258702, 0.014020768),
    "mimic_ch": (0.09121389, 0.010573786, _NAN, 0.005023008, 0.003698257, _NAN, _NAN, 0.08001232, 0.037242252,
                 _NAN, 0.05006329, _NAN, _NAN, _NAN, 0.019866971, 0.03823637, 0.11303808, 0.0069147074),
    "resnet50": (0.51570356, 0.50444704, 0.53787947, 0.50723547, 0.5025118, 0.5035252, 0.5038076, 0.51862943,
                 0.5078151, 0.50724894, 0.5056339, 0.510706, 0.5053923, 0.5020846, _NAN, 0.5080557, 0.5138526,
                 _NAN),
}  # fmt: skip
# BENCHMARKS.md, NIH ChestX-ray14 and CheXpert sections, for the two models it benchmarks.
_XRV_BENCHMARKS: dict[str, dict[str, dict[str, float]]] = {
    "all": {
        "NIH ChestX-ray14": {"Atelectasis": 0.76, "Cardiomegaly": 0.88, "Consolidation": 0.77, "Edema": 0.85,
                             "Effusion": 0.85, "Infiltration": 0.68, "Mass": 0.80, "Nodule": 0.69,
                             "Pleural_Thickening": 0.74, "Pneumonia": 0.71, "Pneumothorax": 0.75},
        "CheXpert": {"Atelectasis": 0.91, "Cardiomegaly": 0.91, "Consolidation": 0.90, "Edema": 0.92,
                     "Enlarged Cardiomediastinum": 0.78, "Fracture": 0.74, "Lung Lesion": 0.84, "Lung Opacity": 0.87,
                     "Effusion": 0.94, "Pneumonia": 0.84, "Pneumothorax": 0.85},
    },
    "resnet50": {
        "NIH ChestX-ray14": {"Atelectasis": 0.78, "Cardiomegaly": 0.90, "Consolidation": 0.78, "Edema": 0.89,
                             "Effusion": 0.86, "Infiltration": 0.69, "Mass": 0.82, "Nodule": 0.76,
                             "Pleural_Thickening": 0.76, "Pneumonia": 0.71, "Pneumothorax": 0.84},
        "CheXpert": {"Atelectasis": 0.63, "Cardiomegaly": 0.84, "Consolidation": 0.74, "Edema": 0.79,
                     "Enlarged Cardiomediastinum": 0.5, "Fracture": 0.58, "Lung Lesion": 0.50, "Lung Opacity": 0.71,
                     "Effusion": 0.81, "Pneumonia": 0.67, "Pneumothorax": 0.61},
    },
}  # fmt: skip
_XRV_DATA = {
    "all": "NIH, PadChest, CheXpert, MIMIC-CXR (CheXpert labels), Google, OpenI and RSNA",
    "nih": "NIH ChestX-ray14",
    "pc": "PadChest",
    "chex": "CheXpert (Stanford)",
    "rsna": "the RSNA Pneumonia Detection Challenge",
    "mimic_nb": "MIMIC-CXR (NegBio labels)",
    "mimic_ch": "MIMIC-CXR (CheXpert labels)",
}
_XRV_FILES = {
    "all": "nih-pc-chex-mimic_ch-google-openi-kaggle-densenet121-d121-tw-lr001-rot45-tr15-sc15-seed0-best.pt",
    "rsna": "kaggle-densenet121-d121-tw-lr001-rot45-tr15-sc15-seed0-best.pt",
}


def _xrv_densenet(data: str) -> PublishedExpert:
    source_file = _XRV_FILES.get(data, f"{data}-densenet121-d121-tw-lr001-rot45-tr15-sc15-seed0-best.pt")
    return PublishedExpert(
        model_id=f"densenet121-res224-{data}",
        publisher="torchxrayvision (Cohen et al., MIDL 2022, arXiv:2111.00595; arXiv:2002.02497)",
        description=f"torchxrayvision's DenseNet-121 trained on {_XRV_DATA[data]} (224 px).",
        architecture="densenet121",
        in_channels=1,
        input_size=224,
        preprocessing=Preprocessing.XRV,
        container=Container.MODULE_PICKLE,
        source_file=source_file,
        source_url=_XRV_URL + source_file,
        licence=_XRV_LICENCE,
        outputs=_XRV_TRAINED[data],
        thresholds=_XRV_OP_THRESHOLDS[data],
        threshold_source=_XRV_THRESHOLDS,
        aucs=_XRV_BENCHMARKS.get(data, {}),
        auc_source=_XRV_AUCS if data in _XRV_BENCHMARKS else "",
    )


_CHEXNET_AUCS = {
    "NIH ChestX-ray14 (their random 20% test split)": {
        "Atelectasis": 0.8294, "Cardiomegaly": 0.9165, "Effusion": 0.8870, "Infiltration": 0.7143, "Mass": 0.8597,
        "Nodule": 0.7873, "Pneumonia": 0.7745, "Pneumothorax": 0.8726, "Consolidation": 0.8142, "Edema": 0.8932,
        "Emphysema": 0.9254, "Fibrosis": 0.8304, "Pleural_Thickening": 0.7831, "Hernia": 0.9104,
    }
}  # fmt: skip

PUBLISHED_EXPERTS: dict[str, PublishedExpert] = {
    "chexnet-res224-nih": PublishedExpert(
        model_id="chexnet-res224-nih",
        publisher="arnoweng/CheXNet (a reimplementation of Rajpurkar et al. 2017, arXiv:1711.05225)",
        description="CheXNet: DenseNet-121 trained on NIH ChestX-ray14 (224 px, ten-crop), reimplemented by arnoweng.",
        architecture="densenet121",
        in_channels=3,
        input_size=224,
        preprocessing=Preprocessing.IMAGENET_TEN_CROP,
        container=Container.CHECKPOINT,
        source_file="model.pth.tar",
        source_url="https://github.com/arnoweng/CheXNet/blob/master/model.pth.tar",
        licence="no licence file in arnoweng/CheXNet: ask the authors before clinical or commercial use",
        outputs=NIH_14,
        thresholds=(_NAN,) * 14,
        threshold_source="none published: 0.5 on the sigmoid output until `januscxr models calibrate` fits local ones",
        aucs=_CHEXNET_AUCS,
        auc_source="arnoweng/CheXNet README, column 'Our Implemented CheXNet' (ten-crop, their test split)",
    ),
    **{f"densenet121-res224-{data}": _xrv_densenet(data) for data in _XRV_DATA},
    "resnet50-res512-all": PublishedExpert(
        model_id="resnet50-res512-all",
        publisher="torchxrayvision (Cohen et al., MIDL 2022, arXiv:2111.00595)",
        description="torchxrayvision's ResNet-50 trained on PadChest, NIH, RSNA, SIIM and VinDr-CXR (512 px).",
        architecture="resnet50",
        in_channels=1,
        input_size=512,
        preprocessing=Preprocessing.XRV,
        container=Container.STATE_DICT,
        source_file="pc-nih-rsna-siim-vin-resnet50-test512-e400-state.pt",
        source_url=_XRV_URL + "pc-nih-rsna-siim-vin-resnet50-test512-e400-state.pt",
        licence=_XRV_LICENCE,
        # Lung Lesion and Enlarged Cardiomediastinum: no published threshold, AUC 0.50 in BENCHMARKS.md (untrained)
        outputs=tuple("" if label in {"Lung Lesion", "Enlarged Cardiomediastinum"} else label for label in XRV_18),
        thresholds=_XRV_OP_THRESHOLDS["resnet50"],
        threshold_source=_XRV_THRESHOLDS,
        aucs=_XRV_BENCHMARKS["resnet50"],
        auc_source=_XRV_AUCS,
    ),
}


def get_published(model_id: str) -> PublishedExpert | None:
    return PUBLISHED_EXPERTS.get(model_id)
