//! The 8×13 matrix as per-pixel brightness levels, row 0 at the top, column 0 on the left (hardware.md §3.1).

/// Columns of the UNO Q matrix.
pub const WIDTH: usize = 13;
/// Rows of the UNO Q matrix.
pub const HEIGHT: usize = 8;

/// One frame: a level per pixel, 0 (dark) … 255 (full). The scan driver maps levels through its gamma table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Framebuffer {
    pub rows: [[u8; WIDTH]; HEIGHT],
}

impl Default for Framebuffer {
    fn default() -> Self {
        Framebuffer { rows: [[0; WIDTH]; HEIGHT] }
    }
}

impl Framebuffer {
    /// Level of a pixel; outside the matrix is dark.
    pub fn get(&self, row: usize, col: usize) -> u8 {
        self.rows.get(row).and_then(|r| r.get(col)).copied().unwrap_or(0)
    }

    /// Set a pixel; coordinates outside the matrix are ignored, so scenes may draw partly off-screen.
    pub fn set(&mut self, row: i32, col: i32, level: u8) {
        if let (Ok(r), Ok(c)) = (usize::try_from(row), usize::try_from(col))
            && r < HEIGHT
            && c < WIDTH
        {
            self.rows[r][c] = level;
        }
    }

    /// Scale every level by `brightness`/255, rounding to nearest (the global brightness command).
    pub fn dim(&mut self, brightness: u8) {
        for level in self.rows.iter_mut().flatten() {
            *level = ((*level as u16 * brightness as u16 + 127) / 255) as u8;
        }
    }

    /// Pixels that are lit at all.
    pub fn lit(&self) -> usize {
        self.rows.iter().flatten().filter(|&&l| l > 0).count()
    }
}
