-- Tables as the paper sets them, in every output (Quarto's `filters:`, `dlrepro render-paper`'s
-- --lua-filter). pandoc's fixed column widths, which it derives from the dashes of a long pipe
-- table and which made Typst hyphenate method names mid-word, are dropped: every column takes
-- its natural width (paper.typ fits a table too wide for the page). Number cells are marked
-- `.number` and their spaces made non-breaking, so that "0.828 ± 0.016" or
-- "-0.044 [-0.0589, -0.0291]" is never broken over lines.

-- A number cell holds digits, signs, separators, brackets and exponents, and nothing else.
local NUMBER_SYMBOLS = { "±", "−", "–", "×" }

local function is_number(text)
  if not text:find("%d") then
    return false
  end
  text = text:gsub("(%d)e([+-]?%d)", "%1%2")
  for _, symbol in ipairs(NUMBER_SYMBOLS) do
    text = text:gsub(symbol, "")
  end
  return text:find("^[%d%s%.,+%-%%/%[%]()]*$") ~= nil
end

local function mark_number(cell)
  cell.attr.classes:insert("number")
  cell.contents = cell.contents:walk({
    Space = function()
      return pandoc.Str("\u{00A0}")
    end,
  })
end

function Table(table)
  for column, spec in ipairs(table.colspecs) do
    table.colspecs[column] = { spec[1], pandoc.ColWidthDefault }
  end
  for _, body in ipairs(table.bodies) do
    for _, row in ipairs(body.body) do
      for _, cell in ipairs(row.cells) do
        if is_number(pandoc.utils.stringify(cell.contents)) then
          mark_number(cell)
        end
      end
    end
  end
  return table
end
