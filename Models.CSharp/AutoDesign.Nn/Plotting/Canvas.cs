using System;

namespace AutoDesign.Nn.Plotting
{
    /// <summary>An RGB raster with the few drawing primitives plots need: rectangles, thick lines,
    /// markers and text in a built-in 5x7 bitmap font (scaled by an integer factor).</summary>
    public sealed class Canvas
    {
        public int Width { get; }
        public int Height { get; }
        public byte[] Pixels { get; } // RGB, row-major

        public Canvas(int width, int height, uint background = 0xFFFFFF)
        {
            Width = width; Height = height;
            Pixels = new byte[width * height * 3];
            FillRect(0, 0, width, height, background);
        }

        public void SetPixel(int x, int y, uint rgb)
        {
            if ((uint)x >= (uint)Width || (uint)y >= (uint)Height) return;
            int i = (y * Width + x) * 3;
            Pixels[i] = (byte)(rgb >> 16); Pixels[i + 1] = (byte)(rgb >> 8); Pixels[i + 2] = (byte)rgb;
        }

        public void FillRect(int x, int y, int w, int h, uint rgb)
        {
            int x0 = Math.Max(0, x), y0 = Math.Max(0, y), x1 = Math.Min(Width, x + w), y1 = Math.Min(Height, y + h);
            for (int yy = y0; yy < y1; yy++)
                for (int xx = x0; xx < x1; xx++) SetPixel(xx, yy, rgb);
        }

        public void DrawRect(int x, int y, int w, int h, uint rgb)
        {
            FillRect(x, y, w, 1, rgb); FillRect(x, y + h - 1, w, 1, rgb);
            FillRect(x, y, 1, h, rgb); FillRect(x + w - 1, y, 1, h, rgb);
        }

        /// <summary>Line from (x0,y0) to (x1,y1) with a square pen of the given thickness (Bresenham).</summary>
        public void DrawLine(double x0, double y0, double x1, double y1, uint rgb, int thickness = 1)
        {
            int ax = (int)Math.Round(x0), ay = (int)Math.Round(y0), bx = (int)Math.Round(x1), by = (int)Math.Round(y1);
            int dx = Math.Abs(bx - ax), sx = ax < bx ? 1 : -1, dy = -Math.Abs(by - ay), sy = ay < by ? 1 : -1;
            int err = dx + dy, off = (thickness - 1) / 2;
            int guard = 0;
            while (guard++ < 100000)
            {
                FillRect(ax - off, ay - off, thickness, thickness, rgb);
                if (ax == bx && ay == by) break;
                int e2 = 2 * err;
                if (e2 >= dy) { err += dy; ax += sx; }
                if (e2 <= dx) { err += dx; ay += sy; }
            }
        }

        /// <summary>A filled disc marker of the given radius.</summary>
        public void FillCircle(double cx, double cy, int radius, uint rgb)
        {
            int x0 = (int)Math.Round(cx), y0 = (int)Math.Round(cy);
            for (int dy = -radius; dy <= radius; dy++)
                for (int dx = -radius; dx <= radius; dx++)
                    if (dx * dx + dy * dy <= radius * radius + radius) SetPixel(x0 + dx, y0 + dy, rgb);
        }

        /// <summary>Width in pixels of a text drawn at this scale.</summary>
        public static int TextWidth(string text, int scale) => text.Length == 0 ? 0 : (text.Length * 6 - 1) * scale;
        /// <summary>Height in pixels of a line of text at this scale.</summary>
        public static int TextHeight(int scale) => 7 * scale;

        /// <summary>Draw text with its top-left corner at (x,y); vertical = rotated 90 degrees counter-clockwise
        /// (reads bottom to top, (x,y) is then the bottom-left corner).</summary>
        public void DrawText(int x, int y, string text, uint rgb, int scale = 1, bool vertical = false)
        {
            int pen = 0;
            foreach (char ch in text)
            {
                var glyph = Font5x7.Glyph(ch);
                for (int col = 0; col < 5; col++)
                {
                    int bits = glyph[col];
                    for (int row = 0; row < 7; row++)
                    {
                        if ((bits & (1 << row)) == 0) continue;
                        int gx = pen + col * scale, gy = row * scale;
                        if (!vertical) FillRect(x + gx, y + gy, scale, scale, rgb);
                        else FillRect(x + gy, y - gx - scale, scale, scale, rgb);
                    }
                }
                pen += 6 * scale;
            }
        }

        public byte[] ToPng() => Png.Encode(Width, Height, Pixels);
    }
}
