// Package democorpus makes the text the demo base model is pretrained on and the dataset `qlora
// demo` fine-tunes it with. Both are written by this program from word lists and sentence
// templates with a fixed seed, so they are licence-clean by construction: no sentence comes from
// anywhere else. The corpus is simple English (short stories with characters, places, objects,
// colours, numbers, cause and effect) and geography facts; the demo task asks for a country's
// capital in a terse answer format the corpus never uses, so the base model knows the fact but not
// the format, and a short QLoRA run teaches the format.
//
// It writes text, JSONL rows and the random starting model (internal/tinymodel); it does not train.
package democorpus

// Country is a geography fact the corpus states many times and the demo task asks about.
type Country struct {
	Name, Capital, Continent string
}

// Countries are the countries the corpus teaches, with capitals that are neither disputed nor
// named like their country, and names used without an article ("the Netherlands" would make the
// sentence templates awkward).
var Countries = []Country{
	{"France", "Paris", "Europe"}, {"Spain", "Madrid", "Europe"}, {"Italy", "Rome", "Europe"},
	{"Germany", "Berlin", "Europe"}, {"Portugal", "Lisbon", "Europe"}, {"Greece", "Athens", "Europe"},
	{"Poland", "Warsaw", "Europe"}, {"Austria", "Vienna", "Europe"}, {"Hungary", "Budapest", "Europe"},
	{"Sweden", "Stockholm", "Europe"}, {"Norway", "Oslo", "Europe"}, {"Finland", "Helsinki", "Europe"},
	{"Denmark", "Copenhagen", "Europe"}, {"Ireland", "Dublin", "Europe"}, {"Belgium", "Brussels", "Europe"},
	{"Switzerland", "Bern", "Europe"}, {"Czechia", "Prague", "Europe"}, {"Slovakia", "Bratislava", "Europe"},
	{"Romania", "Bucharest", "Europe"}, {"Bulgaria", "Sofia", "Europe"}, {"Serbia", "Belgrade", "Europe"},
	{"Croatia", "Zagreb", "Europe"}, {"Slovenia", "Ljubljana", "Europe"}, {"Albania", "Tirana", "Europe"},
	{"Ukraine", "Kyiv", "Europe"}, {"Russia", "Moscow", "Europe"}, {"Estonia", "Tallinn", "Europe"},
	{"Latvia", "Riga", "Europe"}, {"Lithuania", "Vilnius", "Europe"}, {"Iceland", "Reykjavik", "Europe"},
	{"Cyprus", "Nicosia", "Europe"}, {"Malta", "Valletta", "Europe"}, {"Moldova", "Chisinau", "Europe"},
	{"Belarus", "Minsk", "Europe"}, {"Montenegro", "Podgorica", "Europe"}, {"Bosnia", "Sarajevo", "Europe"},
	{"Egypt", "Cairo", "Africa"}, {"Kenya", "Nairobi", "Africa"}, {"Ethiopia", "Addis Ababa", "Africa"},
	{"Nigeria", "Abuja", "Africa"}, {"Ghana", "Accra", "Africa"}, {"Senegal", "Dakar", "Africa"},
	{"Morocco", "Rabat", "Africa"}, {"Algeria", "Algiers", "Africa"}, {"Tunisia", "Tunis", "Africa"},
	{"Libya", "Tripoli", "Africa"}, {"Sudan", "Khartoum", "Africa"}, {"Uganda", "Kampala", "Africa"},
	{"Tanzania", "Dodoma", "Africa"}, {"Rwanda", "Kigali", "Africa"}, {"Angola", "Luanda", "Africa"},
	{"Zambia", "Lusaka", "Africa"}, {"Zimbabwe", "Harare", "Africa"}, {"Mozambique", "Maputo", "Africa"},
	{"Madagascar", "Antananarivo", "Africa"}, {"Mali", "Bamako", "Africa"}, {"Niger", "Niamey", "Africa"},
	{"Cameroon", "Yaounde", "Africa"}, {"Gabon", "Libreville", "Africa"}, {"Botswana", "Gaborone", "Africa"},
	{"Namibia", "Windhoek", "Africa"}, {"Somalia", "Mogadishu", "Africa"}, {"Eritrea", "Asmara", "Africa"},
	{"Malawi", "Lilongwe", "Africa"}, {"Liberia", "Monrovia", "Africa"}, {"Guinea", "Conakry", "Africa"},
	{"Togo", "Lome", "Africa"}, {"Mauritania", "Nouakchott", "Africa"}, {"Lesotho", "Maseru", "Africa"},
	{"Japan", "Tokyo", "Asia"}, {"China", "Beijing", "Asia"}, {"India", "New Delhi", "Asia"},
	{"Pakistan", "Islamabad", "Asia"}, {"Bangladesh", "Dhaka", "Asia"}, {"Nepal", "Kathmandu", "Asia"},
	{"Thailand", "Bangkok", "Asia"}, {"Vietnam", "Hanoi", "Asia"}, {"Cambodia", "Phnom Penh", "Asia"},
	{"Laos", "Vientiane", "Asia"}, {"Malaysia", "Kuala Lumpur", "Asia"}, {"Indonesia", "Jakarta", "Asia"},
	{"Mongolia", "Ulaanbaatar", "Asia"}, {"Iran", "Tehran", "Asia"}, {"Iraq", "Baghdad", "Asia"},
	{"Syria", "Damascus", "Asia"}, {"Jordan", "Amman", "Asia"}, {"Lebanon", "Beirut", "Asia"},
	{"Afghanistan", "Kabul", "Asia"}, {"Uzbekistan", "Tashkent", "Asia"}, {"Kazakhstan", "Astana", "Asia"},
	{"Kyrgyzstan", "Bishkek", "Asia"}, {"Tajikistan", "Dushanbe", "Asia"}, {"Georgia", "Tbilisi", "Asia"},
	{"Armenia", "Yerevan", "Asia"}, {"Azerbaijan", "Baku", "Asia"}, {"Qatar", "Doha", "Asia"},
	{"Oman", "Muscat", "Asia"}, {"Bahrain", "Manama", "Asia"}, {"Myanmar", "Naypyidaw", "Asia"},
	{"Bhutan", "Thimphu", "Asia"}, {"Maldives", "Male", "Asia"}, {"Turkey", "Ankara", "Asia"},
	{"Peru", "Lima", "South America"}, {"Chile", "Santiago", "South America"},
	{"Argentina", "Buenos Aires", "South America"}, {"Brazil", "Brasilia", "South America"},
	{"Colombia", "Bogota", "South America"}, {"Venezuela", "Caracas", "South America"},
	{"Ecuador", "Quito", "South America"}, {"Paraguay", "Asuncion", "South America"},
	{"Uruguay", "Montevideo", "South America"}, {"Suriname", "Paramaribo", "South America"},
	{"Guyana", "Georgetown", "South America"},
	{"Canada", "Ottawa", "North America"}, {"Cuba", "Havana", "North America"},
	{"Jamaica", "Kingston", "North America"}, {"Nicaragua", "Managua", "North America"},
	{"Honduras", "Tegucigalpa", "North America"}, {"Belize", "Belmopan", "North America"},
	{"Barbados", "Bridgetown", "North America"}, {"Costa Rica", "San Jose", "North America"},
	{"Australia", "Canberra", "Oceania"}, {"New Zealand", "Wellington", "Oceania"},
	{"Fiji", "Suva", "Oceania"}, {"Samoa", "Apia", "Oceania"}, {"Vanuatu", "Port Vila", "Oceania"},
}

// Word lists of the stories.
var (
	girls     = []string{"Mia", "Lily", "Emma", "Anna", "Sara", "Lucy", "Zoe", "Nora", "Ella", "Ruby", "Amy", "Ivy", "Maya", "Rosa", "Kate", "Jane"}
	boys      = []string{"Tom", "Ben", "Sam", "Max", "Leo", "Jack", "Finn", "Noah", "Omar", "Luke", "Dan", "Alex", "Hugo", "Ravi", "Eli", "Tim"}
	animals   = []string{"cat", "dog", "bird", "rabbit", "fox", "duck", "frog", "horse", "mouse", "bear", "owl", "goat"}
	colours   = []string{"red", "blue", "green", "yellow", "white", "black", "pink", "brown", "orange", "purple", "grey"}
	toys      = []string{"ball", "kite", "box", "hat", "cup", "book", "boat", "car", "bag", "drum", "doll", "bike", "coat", "shoe"}
	foods     = []string{"apple", "cake", "orange", "pear", "cookie", "banana", "sandwich", "plum", "carrot", "egg"}
	places    = []string{"park", "garden", "forest", "beach", "school", "farm", "market", "river", "hill", "lake", "library", "kitchen"}
	feelings  = []string{"happy", "sad", "tired", "hungry", "scared", "proud", "angry", "excited", "cold", "sleepy"}
	sizes     = []string{"big", "small", "little", "long", "old", "new", "soft", "shiny"}
	weathers  = []string{"sunny", "rainy", "windy", "snowy", "cloudy", "warm", "cold"}
	numbers   = []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"}
	weekdays  = []string{"Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"}
	teachers  = []string{"Mr. Brown", "Mrs. Green", "Ms. Lee", "Mr. Park", "Mrs. Stone", "Ms. Rivera"}
	relatives = []string{"mother", "father", "grandmother", "grandfather", "aunt", "uncle", "sister", "brother"}
)
