"""A short ViT encoder over 16 x 2 column patches (Dosovitskiy et al. 2021), timm parameter names.

STIRER reads text with ViTs in two places: each mini STR decoder (Eq. 3) and the STR decoder
(Eq. 5). A 16 x 64 feature map is cut into 32 patches of 16 x 2 (full height, two columns), so
the token sequence runs left to right along the word. No class token; learned position
embeddings; pre-norm blocks; a final LayerNorm. Names follow timm's VisionTransformer
(`patch_embed.proj`, `pos_embed`, `blocks.i.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}`,
`norm`) so the official weights load unchanged.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .swin import DropPath, Mlp


class PatchEmbed(nn.Module):
    """Conv with kernel = stride = patch: [B,C,H,W] -> [B,(H/ph)*(W/pw),D]."""

    def __init__(self, in_chans: int, dim: int, patch: tuple[int, int]):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention with fused qkv (timm names), PyTorch's fused kernel."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"ViT width {dim} must divide by its {num_heads} heads")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)  # [B,heads,N,hd]
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Block(nn.Module):
    """Pre-norm transformer block: x + Attn(LN(x)), x + MLP(LN(x))."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, drop_path: float = 0.0, eps: float = 1e-6):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class ViTEncoder(nn.Module):
    """Column-patch ViT: [B,C,H,W] -> [B,N,D] with N = (H/ph)*(W/pw) (32 for 16 x 64 and 16 x 2)."""

    def __init__(
        self,
        in_chans: int,
        img_size: tuple[int, int],
        patch: tuple[int, int],
        dim: int,
        depth: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        eps: float = 1e-6,
    ):
        super().__init__()
        n = (img_size[0] // patch[0]) * (img_size[1] // patch[1])
        self.pos_embed = nn.Parameter(torch.zeros(1, n, dim))
        self.patch_embed = PatchEmbed(in_chans, dim, patch)
        self.blocks = nn.Sequential(*[Block(dim, num_heads, mlp_ratio, eps=eps) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=eps)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)  # [B,N,D]
        if x.shape[1] != self.pos_embed.shape[1]:
            raise ValueError(
                f"ViT expects {self.pos_embed.shape[1]} patches, got {x.shape[1]} "
                f"(input {tuple(x.shape)}): feed the model 16 x 64 LR images"
            )
        return self.norm(self.blocks(x + self.pos_embed))
