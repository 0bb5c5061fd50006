//! Word lists for people and places: Indian given names and surnames, cities with their
//! store neighbourhoods and telephone codes, email providers. Brands and product words live
//! with the products (`eyewear`, `lenses`, `products`).

/// (city, store-code prefix, STD code, neighbourhoods), biggest markets first.
#[rustfmt::skip]
pub(crate) const CITIES: &[City] = &[
    ("Mumbai", "MUM", "22", &["Bandra West", "Andheri East", "Powai", "Colaba", "Borivali", "Thane West", "Dadar", "Malad West", "Vashi"]),
    ("Delhi", "DEL", "11", &["Connaught Place", "Lajpat Nagar", "Rajouri Garden", "Saket", "Karol Bagh", "Dwarka", "Rohini", "Vasant Kunj", "Janakpuri"]),
    ("Bengaluru", "BLR", "80", &["Indiranagar", "Koramangala", "Jayanagar", "Whitefield", "Malleshwaram", "HSR Layout", "Electronic City", "Yelahanka"]),
    ("Hyderabad", "HYD", "40", &["Banjara Hills", "Jubilee Hills", "Kukatpally", "Gachibowli", "Secunderabad", "Dilsukhnagar"]),
    ("Chennai", "MAA", "44", &["T. Nagar", "Anna Nagar", "Adyar", "Velachery", "Mylapore", "Porur"]),
    ("Pune", "PNQ", "20", &["Koregaon Park", "Aundh", "Kothrud", "Viman Nagar", "Hadapsar", "Baner"]),
    ("Kolkata", "CCU", "33", &["Park Street", "Salt Lake", "Gariahat", "New Town", "Behala"]),
    ("Ahmedabad", "AMD", "79", &["Navrangpura", "Satellite", "Maninagar", "Bodakdev"]),
    ("Jaipur", "JAI", "141", &["C-Scheme", "Malviya Nagar", "Vaishali Nagar"]),
    ("Lucknow", "LKO", "522", &["Hazratganj", "Gomti Nagar", "Aliganj"]),
    ("Kochi", "COK", "484", &["MG Road", "Edappally", "Kakkanad"]),
    ("Chandigarh", "IXC", "172", &["Sector 17", "Sector 35", "Elante Mall"]),
    ("Indore", "IDR", "731", &["Vijay Nagar", "Palasia"]),
    ("Coimbatore", "CJB", "422", &["RS Puram", "Gandhipuram"]),
    ("Nagpur", "NAG", "712", &["Sitabuldi", "Dharampeth"]),
    ("Surat", "STV", "261", &["Adajan", "Vesu"]),
    ("Bhopal", "BHO", "755", &["MP Nagar", "New Market"]),
    ("Visakhapatnam", "VTZ", "891", &["Dwaraka Nagar", "MVP Colony"]),
    ("Thiruvananthapuram", "TRV", "471", &["Kowdiar", "Pattom"]),
    ("Guwahati", "GAU", "361", &["Paltan Bazaar", "Zoo Road"]),
];

/// (city, store-code prefix, STD code, neighbourhoods)
pub(crate) type City = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

/// How many stores each city gets in the reference chain (same order as [`CITIES`]); the
/// 50 stores of scale 1. Further stores go round the list again.
pub(crate) const STORES_PER_CITY: &[usize] =
    &[7, 7, 6, 4, 4, 4, 3, 3, 2, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0];

#[rustfmt::skip]
pub(crate) const MALE_NAMES: &[&str] = &[
    "Aarav", "Vivaan", "Aditya", "Vihaan", "Arjun", "Sai", "Reyansh", "Ayaan", "Krishna", "Ishaan",
    "Rahul", "Amit", "Rohit", "Vikram", "Suresh", "Ramesh", "Rajesh", "Anil", "Sunil", "Sanjay",
    "Deepak", "Manoj", "Ashok", "Vijay", "Ajay", "Karan", "Nikhil", "Pranav", "Siddharth", "Varun",
    "Abhishek", "Gaurav", "Harsh", "Kunal", "Mohit", "Naveen", "Pradeep", "Rakesh", "Sandeep", "Tarun",
    "Venkatesh", "Srinivas", "Karthik", "Arun", "Balaji", "Ganesh", "Murali", "Prakash", "Ravi", "Senthil",
    "Imran", "Faisal", "Arif", "Salman", "Zaid", "Gurpreet", "Harpreet", "Jaspreet", "Manpreet", "Joseph",
    "Thomas", "Anthony", "Sourav", "Subhash", "Debashish", "Aniket", "Omkar", "Yash", "Dhruv", "Kabir",
];

#[rustfmt::skip]
pub(crate) const FEMALE_NAMES: &[&str] = &[
    "Aadhya", "Ananya", "Diya", "Saanvi", "Pari", "Anika", "Navya", "Myra", "Sara", "Aarohi",
    "Priya", "Anita", "Sunita", "Kavita", "Neha", "Pooja", "Sneha", "Divya", "Swati", "Meera",
    "Lakshmi", "Deepa", "Rekha", "Geeta", "Shalini", "Nisha", "Ritu", "Shreya", "Isha", "Tanvi",
    "Aishwarya", "Bhavana", "Chitra", "Gayatri", "Harini", "Janani", "Kavya", "Lavanya", "Madhuri", "Nandini",
    "Padma", "Radha", "Sangeetha", "Uma", "Vidya", "Yamini", "Zoya", "Fatima", "Ayesha", "Sana",
    "Simran", "Harleen", "Mary", "Reshma", "Anjali", "Pallavi", "Rupali", "Payal", "Trisha", "Riya",
];

#[rustfmt::skip]
pub(crate) const SURNAMES: &[&str] = &[
    "Sharma", "Verma", "Gupta", "Singh", "Kumar", "Agarwal", "Jain", "Mehta", "Shah", "Patel",
    "Desai", "Joshi", "Kulkarni", "Deshpande", "Patil", "Pawar", "Nair", "Menon", "Pillai", "Iyer",
    "Iyengar", "Rao", "Reddy", "Naidu", "Chowdary", "Krishnan", "Subramanian", "Raman", "Srinivasan", "Murthy",
    "Banerjee", "Chatterjee", "Mukherjee", "Ghosh", "Bose", "Das", "Sen", "Roy", "Dutta", "Chakraborty",
    "Malhotra", "Kapoor", "Khanna", "Chopra", "Bhatia", "Sethi", "Arora", "Ahuja", "Gill", "Sandhu",
    "Khan", "Ansari", "Qureshi", "Sheikh", "Siddiqui", "Mishra", "Tiwari", "Pandey", "Dubey", "Tripathi",
    "Yadav", "Chauhan", "Rathore", "Thakur", "Saxena", "Srivastava", "D'Souza", "Fernandes", "Pereira", "Thomas",
    "Hegde", "Shetty", "Kamath", "Bhat", "Naik", "Goswami", "Bhattacharya", "Saini", "Mathur", "Bajaj",
];

#[rustfmt::skip]
pub(crate) const EMAIL_DOMAINS: &[&str] = &[
    "gmail.com", "gmail.com", "gmail.com", "gmail.com", "yahoo.co.in", "yahoo.com", "outlook.com", "hotmail.com", "rediffmail.com", "icloud.com",
];

/// The domain of generated staff accounts (reserved for examples, so mail never leaves).
pub(crate) const STAFF_DOMAIN: &str = "staff.ims-optical.example";
