"""Golden test of ``python -m flexseg.report``: every text file it writes, byte for byte.

Two fixture trees of fake finished runs (``results.json`` as ``flexseg.train`` writes it,
``.hydra/config.yaml`` + ``.hydra/overrides.yaml``) are reported with several option
sets, in-process (:func:`flexseg.report.main`). Every text output (``.md``, ``.csv``, the
printed tables) is compared, after replacing the temporary folder by ``<TMP>``, with
SHA-256 digests recorded from the code before ``flexseg/report.py`` became a package;
PNG files are only checked to exist. A digest changes with any change of a number, a
rounding, a column, a row order or a file name: restructuring must keep them all.

To see what changed after a deliberate change of the outputs, run the report on
:func:`sweep_tree` / :func:`real_tree` before and after and diff the folders.
"""
from __future__ import annotations

import hashlib
import json
import math

import pytest
import yaml

from flexseg import report

SYNTH = ("clear", "fog", "night", "rain", "snow")
REAL = ("acdc", "dark_zurich", "cityscapes", "bdd100k", "mapillary")
CLASSES = ("road", "sidewalk", "car")
OFF = ["flex.gap.enabled=false", "flex.ube.enabled=false", "flex.has.enabled=false"]


def write_run(path, domains, seed, overrides, level, flex_on=True, model="daformer", px=0, nan_domain=None):
    """A finished run in the layout ``flexseg.train`` leaves: results.json (fractions 0–1,
    the keys of ``results_summary`` plus ``averages``) and Hydra's ``.hydra`` files."""
    per = {}
    for i, d in enumerate(domains):
        # differs per domain, seed, arm, model and px: no Δ of a contrast is 0 up to rounding noise
        gain = (0.003 * i * (seed % 2 + 1) if flex_on else 0.0) + (0.002 * i * seed if model == "hrda" else 0.0)
        gain += 0.0007 * i * px * (seed + 1)
        miou = round(level + 0.031 * i - 0.007 * i * i + 0.0113 * seed + gain, 6)
        if d == nan_domain:
            miou = float("nan")
        per[d] = {"miou": miou, "acc": round(0.8 + 0.01 * i + 0.002 * seed, 6),
                  "boundary_acc": round(0.45 + 0.02 * i + 0.004 * seed + (0.03 + 0.005 * seed**2 if flex_on else 0.0), 6),
                  "interior_acc": round(0.9 - 0.01 * i + 0.001 * seed + (0.002 * (seed % 2) if flex_on else 0.0), 6),
                  "iou": {c: round(miou * (1 + 0.1 * k), 6) for k, c in enumerate(CLASSES)}}
    finite = [r["miou"] for r in per.values() if not math.isnan(r["miou"])]
    results = {"miou": {d: r["miou"] for d, r in per.items()}, "mean": sum(finite) / len(finite),
               "boundary_acc": {d: r["boundary_acc"] for d, r in per.items()},
               "interior_acc": {d: r["interior_acc"] for d, r in per.items()},
               "acc": {d: r["acc"] for d, r in per.items()}, "iou": {d: r["iou"] for d, r in per.items()},
               "averages": {"mean": sum(finite) / len(finite)}}
    (path / ".hydra").mkdir(parents=True)
    (path / "results.json").write_text(json.dumps(results, indent=2))
    config = {"seed": seed, "task_name": "train", "tags": ["dev"],
              "model": {"_target_": f"flexseg.models.{model}.Net", "name": model},
              "data": {"misalignment_px": px, "batch_size": 2},
              "flex": {"gap": {"enabled": flex_on}, "ube": {"enabled": flex_on}, "has": {"enabled": flex_on}},
              "paths": {"output_dir": str(path)}, "hydra": {"run": {"dir": str(path)}}}
    (path / ".hydra" / "config.yaml").write_text(yaml.safe_dump(config))
    (path / ".hydra" / "overrides.yaml").write_text(
        yaml.safe_dump([*overrides, f"seed={seed}", f"hydra.run.dir={path}", f"paths.output_dir={path}"]))


def sweep_tree(root):
    """synthdrive runs in ``px<P>/<arm>/<seed>``: FLEX and all-off at px 0 (seeds 0–2, paired),
    at px 4 (off lacks seed 2: dropped with a warning), and an HRDA arm at px 4 whose seeds
    (7, 8) no baseline has (Welch), one of its domains NaN."""
    for px in (0, 4):
        for seed in (0, 1, 2):
            write_run(root / f"px{px}" / "flex" / str(seed), SYNTH, seed, [f"data.misalignment_px={px}"],
                      0.40 + 0.015 * seed + 0.01 * (seed % 2) - 0.004 * px, px=px)
        for seed in ((0, 1, 2) if px == 0 else (0, 1)):
            write_run(root / f"px{px}" / "off" / str(seed), SYNTH, seed, [f"data.misalignment_px={px}", *OFF],
                      0.39 + 0.015 * seed - 0.006 * px, flex_on=False, px=px)
    for seed in (7, 8):
        write_run(root / "px4" / "hrda" / str(seed), SYNTH, seed, ["data.misalignment_px=4", "model=hrda"],
                  0.43 + 0.01 * seed - 0.05, model="hrda", px=4, nan_domain="snow" if seed == 8 else None)
    return root


def real_tree(root):
    """Real target domains (aliases of ACDC, DZ, CS, BDD, MV) in one multirun folder:
    DAFormer and HRDA, each FLEX and all-off, seeds 0–2 (HRDA+FLEX pairs with HRDA-off)."""
    root.mkdir(parents=True)
    (root / "multirun.yaml").write_text("hydra: {}\n")
    job = 0
    for model in ("daformer", "hrda"):
        for flex_on in (True, False):
            for seed in (0, 1, 2):
                overrides = ["+experiment=paper", f"model={model}", *([] if flex_on else OFF)]
                level = 0.35 + (0.04 if model == "hrda" else 0.0) + (0.012 + 0.004 * seed if flex_on else 0.0)
                write_run(root / str(job), REAL, seed, overrides, level + 0.01 * seed, flex_on=flex_on, model=model)
                job += 1
    (root / str(job) / ".hydra").mkdir(parents=True)  # an unfinished job: skipped
    return root


def digests(out, tmp, stdout):
    """``{relative path: sha256 of the text with tmp → <TMP>}`` for every file under ``out``
    (PNG: ``"png"`` when non-empty), plus the printed output under ``"<stdout>"``."""
    found = {"<stdout>": hashlib.sha256(stdout.replace(str(tmp), "<TMP>").encode()).hexdigest()}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = str(path.relative_to(out))
        if path.suffix == ".png":
            found[rel] = "png" if path.stat().st_size > 1000 else "empty png"
        else:
            found[rel] = hashlib.sha256(path.read_text().replace(str(tmp), "<TMP>").encode()).hexdigest()
    return found


CASES = {
    "sweep-default": ("sweep", []),
    "sweep-folder": ("sweep", ["--group-by", "folder"]),
    "sweep-baseline": ("sweep", ["--baseline", "data.misalignment_px=0", "flex.gap.enabled=false"]),
    "sweep-ignore": ("sweep", ["--ignore", "data.misalignment_px"]),
    "sweep-x": ("sweep", ["--x", "data.misalignment_px"]),
    "sweep-wilcoxon-bootstrap": ("sweep", ["--test", "wilcoxon", "--ci", "bootstrap"]),
    "sweep-level": ("sweep", ["--level", "0.9875"]),
    "real-default": ("real", []),
    "real-t-bootstrap": ("real", ["--test", "t", "--ci", "bootstrap", "--resamples", "500"]),
    "real-baseline": ("real", ["--baseline", "model=hrda", "flex.gap.enabled=false"]),
}

#: The PNG files (checked to exist).
PNGS = {"deltas.png": "png", "miou_by_domain.png": "png"}
#: Files of the sweep tree grouped by overrides that no statistics option changes (the group
#: tables and runs.csv): the same in every case that groups the sweep tree that way.
SWEEP_BY_OVERRIDES = {
    "groups/data.misalignment_px=0.csv": "58968129e8f4ff1672732bc6b3e64c65c5fd56d0d081f9e96beee0fe2dd6518e",
    "groups/data.misalignment_px=0.md": "c27b5b5d0bba30627bcd43bb87628258637e673d2bf06e930fd602035430c0e3",
    "groups/data.misalignment_px=0_flex.gap.enabled=false_flex.has.enabled=false_flex.ube.enabled=false.csv":
        "52b658b62642bd9d0a737fa985e0ff2ab5918943985fbe5d018d784a1c4ad28d",
    "groups/data.misalignment_px=0_flex.gap.enabled=false_flex.has.enabled=false_flex.ube.enabled=false.md":
        "aace250faade8cc63c23153d030aebf714fd95138372e5356b87392098c48b1c",
    "groups/data.misalignment_px=4.csv": "350f74e9b438f24fb335a2c6a91611b1372868b9c5bb60845dfcc1466bb29610",
    "groups/data.misalignment_px=4.md": "b77faa766ee6b3596e5b1c76770fc9df16b279da2d4f80b54646cf7d12ce4f6d",
    "groups/data.misalignment_px=4_flex.gap.enabled=false_flex.has.enabled=false_flex.ube.enabled=false.csv":
        "1fa42071569eea37638dada858beb186e860c3130be12d9bd479a8dd4dc39313",
    "groups/data.misalignment_px=4_flex.gap.enabled=false_flex.has.enabled=false_flex.ube.enabled=false.md":
        "d3a0da618fcfc9cefda4a7737de308e77340e7f321f847fa32a9595ba6ac19d4",
    "groups/data.misalignment_px=4_model=hrda.csv": "048857334b13245a6697ec72ae4bf06f19ab657bf4ccea45e0a87b03594926fb",
    "groups/data.misalignment_px=4_model=hrda.md": "54d35565cb84320d31cf8ed10b935ca2fecd74b823b7bc24912edb327402ab74",
    "runs.csv": "fd9bb108a4ecb9f694c63089d50bc5f84435b3bd7a570dd3e2f674d5019f0e28",
}
#: The same for the real tree.
REAL_BY_OVERRIDES = {
    "groups/flex.gap.enabled=false_flex.has.enabled=false_flex.ube.enabled=false_model=daformer.csv":
        "86d80aecce09ebab6d2f4661f00fd6bfa8a6893acaf73f74ec3e770dd4a2ac10",
    "groups/flex.gap.enabled=false_flex.has.enabled=false_flex.ube.enabled=false_model=daformer.md":
        "52ac2909073df2dcb44f631fc18fa2083061bf9f3095addf8e9e2504bc3e98fb",
    "groups/flex.gap.enabled=false_flex.has.enabled=false_flex.ube.enabled=false_model=hrda.csv":
        "ed0662b5814325dd7dcb0f26ca808abba17d973c5b8bedeeab9811a382523716",
    "groups/flex.gap.enabled=false_flex.has.enabled=false_flex.ube.enabled=false_model=hrda.md":
        "33c185853d5cda5002c0b2280c3a865dd975a93fc2294ddc6c48f1ac4fcf87b3",
    "groups/model=daformer.csv": "80c638e9032f3d0b8f99be1e1ca456aa918656cb203229cca11d53f332db9966",
    "groups/model=daformer.md": "9829022fbb0d9d4a5cc008c960619fb6e9f96395893de4bdf0cc3dce9a008c19",
    "groups/model=hrda.csv": "a9ea012d049c178e21888f9d533efcc53b88eae49c09595c1a6ab4df79c6fb90",
    "groups/model=hrda.md": "11af9232697bcba6396bad37ecf472856613195322d7709a4d805f04ca6e1367",
    "runs.csv": "71d51b7b019ec7da10689e2da74fdbed786701a1b5b99ea471cf28e30dae81de",
}

GOLDEN: dict[str, dict[str, str]] = {
    "sweep-default": {
        **PNGS, **SWEEP_BY_OVERRIDES,
        "<stdout>": "322e06daf86a3bda74c1938b5839423970a95dc800673be614d70bafe365823f",
        "comparisons.csv": "b3000a5030e73b2f826554cc0371374e55ee330a165d8d2602fb0fed5dff028b",
        "comparisons.md": "1436fec35d5849bdf4f9a8899f28b7813d660d7f76481d89722b2c25ea27517f",
        "metrics_long.csv": "83a65051449c8d1e0a2742747e717faf3332d8fd97b486da619a53b26eb7d6bb",
        "report.csv": "c9567e817882c07a03d7060b185b3752f7b3c7008dd35cee1530bcb7cc97533a",
        "report.md": "2ada9ff1bd3071db1a1f365c7beb476cc466aec64f5c51164e29d4a68156d443",
    },
    "sweep-folder": {
        **PNGS,
        "<stdout>": "1c459890967d48fc67415e034341e3ccbf5558c2d1447f08ccc1f7affbf7e984",
        "comparisons.csv": "fed9aa6fa4c7b4ca9b3b18b4f6972ffdd920aad5abfd7bca770db6185ae9964e",
        "comparisons.md": "c01a9729e9cffef20c043f464866fb2c9690664b39171513469a5ae92abd5bd5",
        "groups/px0_flex.csv": "58968129e8f4ff1672732bc6b3e64c65c5fd56d0d081f9e96beee0fe2dd6518e",
        "groups/px0_flex.md": "f7ae90f8e8079b4c4cc14a33aea12af2cbe928bed4e8a68afbeeb1f4d2d23849",
        "groups/px0_off.csv": "52b658b62642bd9d0a737fa985e0ff2ab5918943985fbe5d018d784a1c4ad28d",
        "groups/px0_off.md": "0e3339758b4203a1ff474d0450e678730794f4f91384345977e44c09acda85b9",
        "groups/px4_flex.csv": "350f74e9b438f24fb335a2c6a91611b1372868b9c5bb60845dfcc1466bb29610",
        "groups/px4_flex.md": "88e4439c2c7085855f053f01f015df2678b9054b246b1215c56cb8a158d86360",
        "groups/px4_hrda.csv": "048857334b13245a6697ec72ae4bf06f19ab657bf4ccea45e0a87b03594926fb",
        "groups/px4_hrda.md": "af27e7c8353ac4a8624d8ef86bcf707b08a9b7bc850317c0d44b4b6a493a0897",
        "groups/px4_off.csv": "1fa42071569eea37638dada858beb186e860c3130be12d9bd479a8dd4dc39313",
        "groups/px4_off.md": "4691b7f5122b50861ae4a6917c08412c69766e76b9bba17a19bde8d4d04fdff9",
        "metrics_long.csv": "5adc8a78b7f8553406a3ce4242a5ed0a7bf893a5ff6b422941f6c794eadaeb08",
        "report.csv": "92064db7648ec77b65c114efdb19819d89616e054781353de85335dedac45897",
        "report.md": "40e8b2ae636f9d5102df36de75d964ef445abbf5948f04f1110cdcd9c3a4340a",
        "runs.csv": "008fdda92cff9f14ffd8ff8e7887de0c8f24b6d0833f6dffa26e45b2580fb2e4",
    },
    "sweep-baseline": {
        **PNGS, **SWEEP_BY_OVERRIDES,
        "<stdout>": "f03c01d382b138917cda0cd5c67554b6c2bc0e7af9b6dcc9035fe1e4aa74aa53",
        "comparisons.csv": "d0687dcab814952faface4f2a37dc3e3d9ae86f260a4f5179f263a363dc9cf43",
        "comparisons.md": "22a8453f4d717208b3d7ef2621663d8925ea57b8117a98b4e67805cb077586dd",
        "metrics_long.csv": "c2f69bd7bd23104850448fa74d416d831158e9b609c5673592e8eb2a55d4f171",
        "report.csv": "2da8e60940e73e3ad980bb41420fd55b6d313f36fc68b74c43022406a427ba48",
        "report.md": "416e89a64dc83306bdcbb350b358378b215384651be8116f8d345285144eeb0c",
    },
    "sweep-ignore": {
        **PNGS,
        "<stdout>": "637edf19e03e1ede1964cc0d9e4f75cbfddb10bdf83ed6a0576c5bda78168bd1",
        "comparisons.csv": "92b44716c0f85e08dee9c2edb3a7035454448347c913b3da425c992d09d6fcae",
        "comparisons.md": "c48ddd71f0788eef11c68b42302ffe5ba74b8e234451945c521ed9145b40d90e",
        "groups/defaults.csv": "53596732717474e9b5dd954e75aa62d06f09bafc6e1099d80bf021b2f7010a5c",
        "groups/defaults.md": "1c35032332bc5f68886e56c7189fd39f64d3a1a8334dcca17ec008f04efd67d5",
        "groups/flex.gap.enabled=false_flex.has.enabled=false_flex.ube.enabled=false.csv":
            "3dda1ac637863b590cf821628503c06b4ebb69af7309c313e60169567069bcd5",
        "groups/flex.gap.enabled=false_flex.has.enabled=false_flex.ube.enabled=false.md":
            "75202c4872039aeff6b98108c1cbaf5b8c1d6e8a31fa6097fb9b8c4b9ea40b3a",
        "groups/model=hrda.csv": "048857334b13245a6697ec72ae4bf06f19ab657bf4ccea45e0a87b03594926fb",
        "groups/model=hrda.md": "08d3997047d6cfd8518ef8c1413418406e8c4a5b0a448d86f541b6d4865190d0",
        "metrics_long.csv": "08eea35119a9571153d145daa9fdb6c9b86df8d0793fb5e4d8771cfd0786b8c3",
        "report.csv": "5024ab77803020fe1b1010e8027c442ba3ba6ba2a387bb7c05187c23ab974b52",
        "report.md": "f1127758173aac3d884e8de4623f04131518886eb24f3e122aa6c5611e5841e8",
        "runs.csv": "a5190572c20c7f5f82ba91520ebddbb8a032327463288dd1ab03069b9000d4d6",
    },
    "sweep-x": {
        **PNGS, **SWEEP_BY_OVERRIDES,
        "<stdout>": "75e282e2ebdcb09ec1ad9122c7b97d91f66bae4612542f0b1c9cb97f06de05be",
        "comparisons.csv": "b3000a5030e73b2f826554cc0371374e55ee330a165d8d2602fb0fed5dff028b",
        "comparisons.md": "1436fec35d5849bdf4f9a8899f28b7813d660d7f76481d89722b2c25ea27517f",
        "metrics_long.csv": "83a65051449c8d1e0a2742747e717faf3332d8fd97b486da619a53b26eb7d6bb",
        "report.csv": "c9567e817882c07a03d7060b185b3752f7b3c7008dd35cee1530bcb7cc97533a",
        "report.md": "2ada9ff1bd3071db1a1f365c7beb476cc466aec64f5c51164e29d4a68156d443",
        "versus_data.misalignment_px.csv": "122c0941390128abb5054aafed42cc7c28315134bf6f697bc45faefcfbb3bb16",
        "versus_data.misalignment_px.md": "ae4f33ab867784a336687fbff351c9f7e664f672bcd348003329a3243a0594e6",
        "versus_data.misalignment_px.png": "png",
        "versus_data.misalignment_px_delta.csv": "31d853a84c3f0de2fc84f60516c69fb1c7110993322b92e9f0f59ae09d3e625f",
        "versus_data.misalignment_px_delta.md": "1e304ad452d4d839149c9988eeafcbc32ea4aad4a37681ec5f765be3999c81cf",
        "versus_data.misalignment_px_delta.png": "png",
        "versus_data.misalignment_px_long.csv": "83f4cf1619ac1c72b37595f80b9b5bb94e147a3aef248e541f11d38f0dfc6da3",
    },
    "sweep-wilcoxon-bootstrap": {
        **PNGS, **SWEEP_BY_OVERRIDES,
        "<stdout>": "3cbb6ab7a8d5bb270dbb68a3e05454aedccee2dc327233d8480ec3c3bf3fb6bf",
        "comparisons.csv": "97caef843ba3975432329dddb3861f17889dd794264024f84614546073bb2962",
        "comparisons.md": "db02e63a0b3c0bf434e4fdb72775f6630cb4a57482c5a168919beda3e3113b48",
        "metrics_long.csv": "7a4e0eb1f6b42da6be1aef74c87ee09316ed08fc2b16e98b434ff62b1ffa0c64",
        "report.csv": "a66889140f1ab6fd93701ac85f87ed9abb84f81942ce445b34135d495e65fd02",
        "report.md": "b8d5e33d0161fbc39016619cfbcf01d37ee41c466e2b7fd147607475aa454d2f",
    },
    "sweep-level": {
        **PNGS, **SWEEP_BY_OVERRIDES,
        "<stdout>": "047ac8eadd3d2fb2f567c41d38e3331c5c7b7a79d9d2d29391e4be79cb03f919",
        "comparisons.csv": "d7cfd6837fd397431165bd731c89e64da6bc74c523ba092f0107a2c641f358a4",
        "comparisons.md": "10b2b39e8b46b98162e2256354ff4d5dfad5152939d1125d9790f227fbb75d99",
        "metrics_long.csv": "872d869a8b13229afef90714fb85a95e43e5219517f777ec728cfbe2a73ef631",
        "report.csv": "3de8792aca5927acb8c5869f56653f6803069b884f7600e6af5e6a78ca90cfbb",
        "report.md": "30dacb6b7a4446a10521713055c2d0fc40faeede59e736842449633fb1f08a55",
    },
    "real-default": {
        **PNGS, **REAL_BY_OVERRIDES,
        "<stdout>": "9aa49036c1fb6656e3445fd74403d7dcf22b434181e3763b2fdcc7adbab7af32",
        "comparisons.csv": "acace635633f4a792b66f52efc9f8c9974a26968bac4aae9e37006f952cd6e42",
        "comparisons.md": "689e0f0b755af8085687a4eb9f78c778ae69fff43a33921ff96c441c1e442117",
        "metrics_long.csv": "cc6c5ebe193c90c2f93b989f855cddf972a134c2995f875c734f619a477bf060",
        "report.csv": "38222b10ca5039198a95d6b2fa5cde1cf677c735aef9c64a50981f3f524cbc9c",
        "report.md": "b6b3d4f886ff0508078dfcb3ed95c7414db7988c1feadb118478a94680bdb01d",
    },
    "real-t-bootstrap": {
        **PNGS, **REAL_BY_OVERRIDES,
        "<stdout>": "68d49b7aa8dda9f6e54d4cf438ba0d4cace8be7918392f7fc2b7263559705cc9",
        "comparisons.csv": "a532e473f21b6d0b76e41cd2e1dab282939ba9097ad5f0eb6e81fe81077ee9e9",
        "comparisons.md": "f53f9e28fcdb448e60264651b654bd3c02a0f41243146dd9261c72629ef1be02",
        "metrics_long.csv": "3dbf9b33d558c42e16e78b27ed12da4aa76ec6ec3ab1bb4b70d9195568f7b7f7",
        "report.csv": "e2282fbdfc0b2f251cdad486f325d411992887c466784f30ee01f1189c50d613",
        "report.md": "edb65f27057db1d83ee9bcc16cc76a25b6ded0cb7a41365d0390d33d93b9ae3b",
    },
    "real-baseline": {
        **PNGS, **REAL_BY_OVERRIDES,
        "<stdout>": "a6a91d8c05d310b9d643e2df4c4e3359d7ab897d8efcfbabb84fa83258215bf9",
        "comparisons.csv": "d0b4aca0d39996b4b81bab4ed0deb898638c8220c016c46d5f9602323c4352ec",
        "comparisons.md": "27e091a94b5bf457c5a9e0fb1d9d2d8023f13761ac34edb9569b07ed8028280a",
        "metrics_long.csv": "e26edd906bf0ffd64e4f171c7cfc64d9cf647a8182e8b42855ca8b063fcc99d5",
        "report.csv": "3ae0b08d1f46fc7cefbd43de9c0f388d9526ee99b113f38c8975455da01e6697",
        "report.md": "9ab03d9dc1a9fa519e20c54c1f599fc320c791530954f36e159b7da750305c7d",
    },
}


@pytest.mark.parametrize("case", list(CASES))
def test_report_outputs_are_unchanged(case, tmp_path, capsys):
    tree, options = CASES[case]
    root = sweep_tree(tmp_path / "sweep") if tree == "sweep" else real_tree(tmp_path / "real")
    # the real-tree default case also checks the default output folder <first DIR>/report
    out = root / "report" if case == "real-default" else tmp_path / "out"
    argv = [str(root), *(["--out", str(out)] if case != "real-default" else []), *options]
    assert report.main(argv) == 0
    found = digests(out, tmp_path, capsys.readouterr().out)
    expected = GOLDEN[case]
    assert sorted(found) == sorted(expected), "the set of output files changed"
    changed = [name for name in expected if found[name] != expected[name]]
    assert not changed, f"outputs changed: {changed}"
