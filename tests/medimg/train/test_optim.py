import pytest
import torch

from medimg.config.schema import ModelParams, StageParams
from medimg.io.problems import InputError
from medimg.models import build_model
from medimg.train.device import resolve_precision
from medimg.train.optim import (
    apply_trainable,
    build_optimizer,
    build_scheduler,
    group_learning_rates,
    nothing_to_train,
    set_train_mode,
)


@pytest.fixture(scope="module")
def model():
    return build_model(ModelParams(name="resnet3d_18", width=4, head_hidden=8))


def test_training_from_a_named_group_freezes_the_groups_before_it(model):
    stage = StageParams(name="s", epochs=1, trainable="layer3", lr_backbone=1e-3)
    apply_trainable(model, stage)
    trainable = {
        name
        for name, part in model.backbone_groups()
        if all(p.requires_grad for p in part.parameters())
    }
    assert trainable == {"layer3", "layer4"}
    set_train_mode(model, stage)
    assert not model.backbone["layer2"].training and model.backbone["layer3"].training


def test_layer_wise_decay_and_an_explicit_table(model):
    decay = StageParams(name="s", epochs=1, trainable="all", lr_backbone=1e-3, layer_decay=0.5)
    rates = group_learning_rates(model, decay)
    assert rates["layer4"] == pytest.approx(1e-3) and rates["layer3"] == pytest.approx(5e-4)
    assert rates["stem"] == pytest.approx(1e-3 * 0.5**4)
    table = StageParams(
        name="s", epochs=1, trainable="layer3", lr_groups={"layer3": 1e-5, "layer4": 2e-5}
    )
    assert group_learning_rates(model, table) == {"layer4": 2e-5, "layer3": 1e-5}
    groups = build_optimizer(model, table).param_groups
    assert [g["name"] for g in groups] == ["head", "layer4", "layer3"]


def test_optimizers_and_schedules_from_params(model):
    sgd = StageParams(
        name="s", epochs=4, trainable="all", lr_backbone=1e-2, optimizer="sgd", warmup_epochs=1
    )
    optimizer = build_optimizer(model, sgd)
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.param_groups[0]["nesterov"]
    scheduler = build_scheduler(optimizer, sgd, steps_per_epoch=2)
    lrs = []
    for _ in range(8):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[0] == pytest.approx(sgd.lr_head / 2) and lrs[1] == pytest.approx(
        sgd.lr_head
    )  # warm-up
    assert lrs[-1] < lrs[2]  # cosine decay after it
    plateau = StageParams(
        name="s", epochs=4, trainable="head", schedule="plateau", plateau_patience=0
    )
    opt = build_optimizer(model, plateau)
    sched = build_scheduler(opt, plateau, 2)
    sched.step(0.8)
    sched.step(0.7)  # AUC got worse: the learning rate halves
    assert opt.param_groups[0]["lr"] == pytest.approx(plateau.lr_head * 0.5)


def test_poly_schedule_decays_as_nnunet_after_warm_up(model):
    poly = StageParams(name="s", epochs=5, trainable="head", schedule="poly", warmup_epochs=1)
    optimizer = build_optimizer(model, poly)
    scheduler = build_scheduler(optimizer, poly, steps_per_epoch=2)
    lrs = []
    for _ in range(10):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs[:2] == pytest.approx([poly.lr_head / 2, poly.lr_head])  # warm-up
    # then lr0 * (1 - t / T) ** 0.9 over the 8 steps after it
    assert lrs[2:] == pytest.approx([poly.lr_head * (1 - t / 8) ** 0.9 for t in range(8)])


def test_precision_falls_back_to_fp32_on_cpu_and_refuses_fp16_there():
    cpu = torch.device("cpu")
    assert (
        resolve_precision("auto", cpu) is None and resolve_precision("bf16", cpu) == torch.bfloat16
    )
    with pytest.raises(InputError, match="fp16 needs a CUDA device"):
        resolve_precision("fp16", cpu)


def test_a_first_head_stage_of_a_random_segmenter_trains_nothing_and_says_why():
    head = StageParams(name="freeze", epochs=1, trainable="head")
    unet = ModelParams(name="unet2d")
    assert "a U-Net trains from scratch" in nothing_to_train(head, 0, unet)
    offline = ModelParams(name="deeplabv3_mobilenet_v3_large", init="none")
    assert "no ImageNet weights; model.init: imagenet" in nothing_to_train(head, 0, offline)
    pretrained = ModelParams(name="deeplabv3_mobilenet_v3_large", init="imagenet")
    assert nothing_to_train(head, 0, pretrained) is None  # freeze, then unfreeze
    assert nothing_to_train(head, 1, offline) is None  # an earlier stage trained the encoder
    assert nothing_to_train(head, 0, ModelParams(name="resnet18", init="none")) is None
